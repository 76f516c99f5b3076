"""ponder: control how long a language model thinks, and measure what the thinking buys."""

from .api import build_prompt, generate, generate_many
from .backends import load_backend
from .control import Control
from .errors import PonderError
from .formats import FORMATS, ThinkFormat
from .policies import Adaptive, Budget, Countdown, EntropyPause, Filler, NoThinking, Pause, Prefix, make_policy
from .result import Result
from .usage import Usage
from .sampling import Sampling
from .tools import Tool, ToolCall
from .turns import TurnBudget

__version__ = "0.1.0"

__all__ = [
    "Adaptive", "Budget", "Control", "Countdown", "EntropyPause", "FORMATS", "Filler", "NoThinking", "Pause",
    "PonderError", "Prefix", "Result", "Sampling", "ThinkFormat", "Tool", "ToolCall", "TurnBudget", "Usage",
    "build_prompt", "generate", "generate_many", "load_backend", "make_policy",
]
