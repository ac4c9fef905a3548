"""The service's Lua scripts as package data: one ``.lua`` file each, headed by its KEYS and ARGV."""
