"""Detectors for prompt injection and jailbreak attempts.

Phrase rules, English first plus common German, French and Spanish phrasings.
Each rule needs the words that make a phrase address the model ("previous
instructions", "your rules", "system prompt"), so that honest questions which
share a verb ("Should I ignore the warning?", "How do I reset my password?")
pass. Normalization against obfuscation and a classifier come later, as more
detectors of the same shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from services.guardrail.findings import Detector, Finding

_FLAGS = re.IGNORECASE | re.VERBOSE


@dataclass(frozen=True)
class InjectionRule:
    check: str
    pattern: re.Pattern[str]
    score: float
    reason: str

    def __call__(self, text: str) -> Iterator[Finding]:
        for match in self.pattern.finditer(text):
            yield Finding(self.check, match.start(), match.end(), self.score, self.reason)


_EARLIER = r"(?:previous|prior|above|earlier|preceding|foregoing|initial|original|system)"
_ORDERS = r"(?:instructions?|prompts?|directions?|directives?|commands?|guidelines|rules|context)"

_DE_EARLIER = r"(?:vorherigen|bisherigen|obigen|vorigen|vorangegangenen|urspr[üu]nglichen)"
_FR_EARLIER = r"(?:pr[eé]c[eé]dentes|ci-dessus|initiales|ant[eé]rieures)"
_ES_EARLIER = r"(?:anteriores|previas|de\s+arriba|iniciales)"

# Outside English a bare "forget the rules" is ordinary speech, so these need
# "all" or a word pointing back at earlier instructions.
OVERRIDE = InjectionRule(
    "injection.override",
    re.compile(
        rf"""
        \b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|every\s+)?(?:of\s+)?
          (?:the\s+|your\s+|my\s+|these\s+|those\s+)?{_EARLIER}\s+{_ORDERS}\b
      | \b(?:ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie|missachte)\s+
          (?:alle\s+(?:deine\s+|die\s+|ihre\s+)?(?:{_DE_EARLIER}\s+)?|(?:deine\s+|die\s+|ihre\s+)?{_DE_EARLIER}\s+)
          (?:Anweisungen|Instruktionen|Befehle|Regeln)\b
      | \b(?:ignore|ignorez|oublie|oubliez)\s+
          (?:toutes\s+(?:les|tes|vos)\s+(?:instructions|consignes|r[eè]gles)\b
            |(?:les|tes|vos)\s+(?:instructions|consignes|r[eè]gles)\s+{_FR_EARLIER})
      | \b(?:ignora|ignore|olvida|olvide)\s+
          (?:todas\s+(?:las|tus|sus)\s+(?:instrucciones|indicaciones|reglas)\b
            |(?:las|tus|sus)\s+(?:instrucciones|indicaciones|reglas)\s+{_ES_EARLIER})
        """,
        _FLAGS,
    ),
    0.95,
    "instruction override phrase",
)

RULES_OVERRIDE = InjectionRule(
    "injection.override",
    re.compile(
        r"""
        \b(?:ignore|disregard|bypass|forget|override|break)\s+(?:all\s+)?(?:of\s+)?your\s+(?:\w+\s+)?
          (?:rules|guidelines|restrictions|filters|guardrails|policies|programming|safety\s+measures)\b
        """,
        _FLAGS,
    ),
    0.9,
    "request to drop the model's rules",
)

PERSONA = InjectionRule(
    "injection.jailbreak",
    re.compile(
        r"""
        \byou\s+are\s+now\s+(?:(?-i:DAN)|an?\s+(?:unrestricted|unfiltered|uncensored|jailbroken)\b)
      | \b(?-i:DAN)\s+mode\b
      | \bdo\s+anything\s+now\b
      | \b(?:you\s+are|you're|act\s+as|acting\s+as|enter|entering|switch\s+to|now\s+in|simulate)\b
          [^.\n]{0,30}\bdeveloper\s+mode\b
      | \b(?:ChatGPT|GPT|AI|assistant|model|you)\s+with\s+developer\s+mode\b
      | \b(?:act|behave|respond)\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|jailbroken)\b
        """,
        # DAN stays case-sensitive: "Dan from accounting" is a colleague.
        _FLAGS,
    ),
    0.9,
    "jailbreak persona",
)

PROMPT_LEAK = InjectionRule(
    "injection.prompt_leak",
    re.compile(
        r"""
        \b(?:reveal|print|show|display|output|repeat|dump|leak|tell\s+me|give\s+me|what\s+(?:is|are))\s+
          (?:me\s+)?(?:your|the)\s+(?:full\s+|entire\s+|exact\s+)?
          (?:system|initial|hidden|original|secret)\s+(?:prompt|instructions|message)\b
      | \b(?:zeige?|gib|verrate)\s+(?:mir\s+)?(?:deinen?|den|die)\s+(?:System-?[Pp]rompt|System-?[Aa]nweisungen)\b
      | \b(?:r[eé]v[eè]le|montre|affiche|donne)(?:[-\s]moi)?\s+(?:ton|tes|le|les|vos|votre)\s+
          (?:prompt\s+syst[eè]me|instructions\s+syst[eè]me|prompt\s+initial)\b
      | \b(?:muestra|revela|dime|ens[eé]ñame)(?:me)?\s+(?:tu|tus|el|las)\s+
          (?:prompt\s+(?:del\s+)?sistema|instrucciones\s+(?:del\s+)?sistema)\b
        """,
        _FLAGS,
    ),
    0.9,
    "request to reveal the system prompt",
)

CHAT_TEMPLATE = InjectionRule(
    "injection.chat_template",
    re.compile(
        r"""
        <\|(?:im_start|im_end|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id)\|>
      | \[/?INST\] | <</?SYS>> | </?start_of_turn> | <end_of_turn>
      | ^[ \t]*\#{2,}[ \t]*(?:system|instruction|instructions|assistant)[ \t]*:
        """,
        _FLAGS | re.MULTILINE,
    ),
    0.9,
    "chat template control sequence",
)

ADDRESSES_MODEL = InjectionRule(
    "injection.indirect",
    re.compile(
        r"""
        \b(?:if|when)\s+you\s+are\s+an?\s+(?:AI|LLM|large\s+language\s+model|language\s+model|AI\s+assistant|chatbot)\b
      | \b(?:note|message|instructions?)\s+(?:to|for)\s+(?:the\s+|any\s+)?
          (?:AI|LLM|assistant|AI\s+assistant|language\s+model|chatbot)s?\s*:
        """,
        _FLAGS,
    ),
    0.8,
    "text addressed to an AI model",
)

INJECTION_DETECTORS: tuple[Detector, ...] = (
    OVERRIDE, RULES_OVERRIDE, PERSONA, PROMPT_LEAK, CHAT_TEMPLATE, ADDRESSES_MODEL
)
