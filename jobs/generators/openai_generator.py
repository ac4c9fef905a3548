"""The openai generator: the model designs the course, the planner keeps it honest, the model writes it.

1. *Design* (``jobs.generators.designer``): the model gets the request and the plan's hard limits
   (``jobs.design.Limits``) and returns modules in prerequisite order, each lesson with its title,
   kind, the requested objectives it teaches and rough minutes. Long courses: the module list,
   then each module's lessons in parallel.
2. *Fit* (``jobs.fitting``): the planner fits minutes to the budget, builds the schedule, closes
   every module with an assessment, checks the coverage claims, repairs what stayed wrong and says
   so in ``warnings``.
3. *Write* (``jobs.generators.writer``): one call per module, all in parallel (``LLM_CONCURRENCY``),
   every prompt beginning with the same instructions and the whole checked outline.

Transport (structured-output fallbacks, retries, truncation, refusals, broken replies, timeouts,
per-job caps) lives in ``jobs.generators.chat``.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

from jobs.cache import Cache
from jobs.design import Design, design_limits
from jobs.fitting import plan_from_design
from jobs.generators import GeneratorConfig, ProgressFn, guarded_progress
from jobs.generators.asking import Asker
from jobs.generators.briefs import ModuleWords, outline_text
from jobs.generators.chat import ChatClient
from jobs.generators.designer import design_course
from jobs.generators.writer import CourseWriter
from jobs.models import Assessment, Curriculum, CurriculumRequest, GeneratorInfo, Usage
from jobs.planner import LessonContent, ModuleContent, Plan, assemble

logger = logging.getLogger(__name__)


class OpenAIGenerator:
    """Generates curricula with any OpenAI-compatible chat-completions endpoint."""

    name = "openai"

    def __init__(self, config: GeneratorConfig, cache: Cache | None = None) -> None:
        self._config = config
        self._cache = cache
        self.model = config.model
        #: What every writing prompt of the last course began with (measured by tests and the bench).
        self.last_shared_prefix = ""

    def generate(self, request: CurriculumRequest, progress: ProgressFn) -> Curriculum:
        report = guarded_progress(progress)
        limits = design_limits(request)
        with ChatClient(self._config, self._cache) as chat:
            asker = Asker(chat, self._config, self._cache)
            design = design_course(asker, request, limits, self._config.concurrency, report)
            the_plan, fitted = plan_from_design(request, limits, design)
            words = _words(fitted)
            writer = CourseWriter(asker, request, the_plan, words, outline_text(request, the_plan, words))
            self.last_shared_prefix = writer.shared_prefix
            texts = self._write(writer, the_plan, report)
            writer.check_share()
            spent = chat.budget.spent()
        usage = Usage(model_calls=spent.calls, prompt_tokens=spent.prompt_tokens,
                      completion_tokens=spent.completion_tokens)
        notes = _fallback_notes(request) if writer.fallbacks else []
        info = GeneratorInfo(name=self.name, model=self.model)
        return assemble(request, the_plan, _contents(the_plan, words, texts), info, notes, usage)

    def _write(self, writer: CourseWriter, the_plan: Plan, report: ProgressFn) -> dict[str, LessonContent]:
        total = len(the_plan.lessons)
        report("lessons", 0, total)
        texts: dict[str, LessonContent] = {}
        workers = max(1, min(self._config.concurrency, len(the_plan.modules)))
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="curriculum-llm")
        try:
            futures: list[Future[dict[str, LessonContent]]] = [
                executor.submit(writer.write, module.index) for module in the_plan.modules
            ]
            for future in as_completed(futures):
                texts.update(future.result())  # the first failure is re-raised; finally cancels the rest
                report("lessons", len(texts), total)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        return texts


def _words(design: Design) -> list[ModuleWords]:
    return [ModuleWords(m.title, m.summary, m.objectives, m.assessment) for m in design.modules]


def _contents(the_plan: Plan, words: list[ModuleWords], texts: dict[str, LessonContent]) -> list[ModuleContent]:
    contents = []
    for module, word in zip(the_plan.modules, words, strict=True):
        a = word.assessment
        contents.append(ModuleContent(
            title=word.title, summary=word.summary, objectives=word.objectives,
            assessment=Assessment(title=a.title, kind=a.kind, description=a.description),
            lessons=tuple(texts[ls.id] for ls in module.lessons),
        ))
    return contents


def _fallback_notes(request: CurriculumRequest) -> list[str]:
    """Said once when template text stands in for model replies (``assemble`` counts the lessons)."""
    if request.language.split("-")[0].lower() == "en":
        return []
    return [f"template text for lessons marked fallback is in English, not {request.language}"]
