"""Rules for prompt injection, jailbreaks and the other ways a text tries to steer the model.

Phrase rules in English, German, French and Spanish. They run on every
normalized view of a text (services/guardrail/normalization.py), so they are
written for plain letters; accents are optional. Each rule needs the words
that make a phrase address the model ("previous instructions", "your rules",
"system prompt"), so that honest questions which share a verb ("Should I
ignore the warning?", "How do I reset my password?") pass. Where a phrase is
also what people ask *about* ("Should I ignore previous instructions from
IT?"), a rule marked `askable` stays quiet on a question that does not speak
to the model in the second person, and on a phrase quoted as an example
("training mentioned 'ignore previous instructions' attacks", "Sätze wie
„Ignoriere alle Anweisungen“"); the classifier still reads both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from services.guardrail.findings import Detector, Finding

_FLAGS = re.IGNORECASE | re.VERBOSE

_SENTENCE_END = re.compile(r"[.!?\n]")
_QUESTION_START = re.compile(
    r"""^\W*(?:how|why|when|where|what|which|who|whether|is|are|was|should|can|could|may|might|must|do|does|did|would|will
        |wie|warum|wann|wo|was|welche[rsn]?|soll|sollte|kann|darf|muss
        |comment|pourquoi|quand|est-ce|dois-je|puis-je|faut-il
        |c[oó]mo|por\s+qu[eé]|cu[aá]ndo|qu[eé]|debo|puedo|se\s+puede)\b""",
    _FLAGS,
)
# Words that speak to the model: a question with them is a request to it, not about it.
_SECOND_PERSON = re.compile(
    r"\b(?:you|your|yours|yourself|u|du|dich|dir|dein\w*|euch|euer|Sie|Ihr\w*|tu|toi|ton|ta|tes|vous|votre|vos"
    r"|t[uú]|tus|usted|ustedes|vuestr\w*)\b",
    re.IGNORECASE,
)


# A quotation: straight quotes (a single one not inside a word, unlike "don't"), curly, low-high and guillemets.
_QUOTATION = re.compile(r"""(?<!\w)'[^'\n]{3,300}'(?!\w)|"[^"\n]{3,300}"|“[^”\n]{3,300}”|‘[^’\n]{3,300}’|„[^“”\n]{3,300}[“”]|«[^»\n]{3,300}»""")
# Words that introduce a quoted example: "such as '...'", "the email said '...'", "Sätze wie „...“".
_MENTION_CUE = re.compile(
    r"\b(?:such\s+as|like|e\.g\.|said|says|saying|wrote|writes|write|written|mentioned|mentions|quoted|quotes|reads|read|phrases?|text|sentences?|words|examples?|called"
    r"|wie|etwa|z\.\s?B\.|sagt|sagte|schreiben|schrieb|S[äa]tze|Phrasen|comme|tels?\s+que|telles?\s+que|dit|disait|[ée]crivent"
    r"|como|tales\s+como|dice|dec[ií]a|escriben|frases?)\W*$",
    re.IGNORECASE,
)


def _sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    before = text.rfind("\n", 0, start)
    for match in _SENTENCE_END.finditer(text, max(0, start - 300), start):
        before = max(before, match.start())
    after = _SENTENCE_END.search(text, end)
    return before + 1, after.end() if after else len(text)


def _asked_about(text: str, start: int, end: int) -> bool:
    """True when the match sits in a question that talks about the phrase rather than to the model."""
    sentence_start, sentence_end = _sentence_around(text, start, end)
    sentence = text[sentence_start:sentence_end]
    is_question = sentence.rstrip().endswith("?") or _QUESTION_START.match(sentence) is not None
    return is_question and not _SECOND_PERSON.search(sentence)


def _quoted_example(text: str, start: int, end: int) -> bool:
    """True when the match sits in a quotation that a cue word introduces as an example, in a sentence
    that does not otherwise speak to the model: "attackers write 'ignore previous instructions'"."""
    # Quotation marks are not sentence ends: look from the line start, at most 300 characters back.
    line_start = max(text.rfind("\n", 0, start) + 1, start - 300)
    for quote in _QUOTATION.finditer(text, line_start, min(len(text), end + 300)):
        if quote.start() < start and end <= quote.end():
            sentence_start, sentence_end = _sentence_around(text, quote.start(), quote.end())
            frame = text[sentence_start : quote.start()] + " " + text[quote.end() : sentence_end]
            return _MENTION_CUE.search(text, line_start, quote.start()) is not None and not _SECOND_PERSON.search(frame)
    return False


@dataclass(frozen=True)
class InjectionRule:
    check: str
    pattern: re.Pattern[str]
    score: float
    reason: str
    askable: bool = False

    def __call__(self, text: str) -> Iterator[Finding]:
        for match in self.pattern.finditer(text):
            if self.askable and (_asked_about(text, match.start(), match.end()) or _quoted_example(text, match.start(), match.end())):
                continue
            yield Finding(self.check, match.start(), match.end(), self.score, self.reason)


def _rule(check: str, pattern: str, score: float, reason: str, *, askable: bool = False, flags: int = _FLAGS) -> InjectionRule:
    return InjectionRule(check, re.compile(pattern, flags), score, reason, askable)


_EARLIER = r"(?:previous|prior|above|earlier|preceding|foregoing|initial|original|system|old|existing)"
_ORDERS = r"(?:instructions?|prompts?|directions?|directives?|commands?|guidelines|rules|context|programming|orders)"
_DE_EARLIER = r"(?:vorherigen|bisherigen|obigen|vorigen|vorangegangenen|ursprunglichen|urspr[üu]nglichen|alten|fruheren|fr[üu]heren)"
_DE_ORDERS = r"(?:Anweisungen|Instruktionen|Befehle|Regeln|Vorgaben|Richtlinien)"
_FR_EARLIER = r"(?:pr[eé]c[eé]dentes|ci-dessus|initiales|ant[eé]rieures|d'origine|originales)"
_FR_ORDERS = r"(?:instructions|consignes|r[eè]gles|directives)"
_ES_EARLIER = r"(?:anteriores|previas|de\s+arriba|iniciales|originales)"
_ES_ORDERS = r"(?:instrucciones|indicaciones|reglas|directrices|[oó]rdenes)"

# Outside English a bare "forget the rules" is ordinary speech, so these need
# "all" or a word pointing back at earlier instructions.
OVERRIDE = _rule(
    "injection.override",
    rf"""
    \b(?:ignore|disregard|forget|override|overrule|discard|drop|skip|abandon|set\s+aside|throw\s+out)\s+
      (?:all\s+|any\s+|every\s+|each\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+|these\s+|those\s+|its\s+)?
      (?:\w+\s+)?{_EARLIER}\s+{_ORDERS}\b
  | \b(?:ignore|disregard|forget)\s+(?:everything|anything|all)\s+(?:above|before|previously|earlier|(?:that\s+)?you\s+(?:were|have\s+been)\s+(?:told|given|instructed))
  | \b(?:ignore|disregard|overrule|override|forget)\s+(?:whatever|anything|everything|what)\s+(?:the\s+\w+|your\s+\w+|they|he|she|someone|anyone)\s+(?:has\s+|have\s+)?(?:told|said\s+to|instructed|asked)\s+you\b
  | \bmy\s+(?:instructions|orders|commands|rules)\s+(?:take|have)\s+(?:priority|precedence)\s+over\b
  | \b(?:ignoriere|ignorier|ignorieren\s+Sie|vergiss|vergessen\s+Sie|missachte|missachten\s+Sie|verwirf)\s+
      (?:alle\s+(?:deine\s+|die\s+|Ihre\s+|ihre\s+)?(?:{_DE_EARLIER}\s+)?|(?:deine\s+|die\s+|Ihre\s+|ihre\s+)?{_DE_EARLIER}\s+)
      {_DE_ORDERS}\b
  | \b(?:ignoriere|vergiss|vergessen\s+Sie)\s+(?:alles|alle\s+Anweisungen)\s*(?:,\s*)?(?:was|bisher|davor|oben|zuvor)
  | \b(?:ignore|ignores|ignorez|oublie|oubliez|n[eé]glige|n[eé]gligez)\s+
      (?:toutes\s+(?:les|tes|vos)\s+{_FR_ORDERS}\b|(?:les|tes|vos)\s+{_FR_ORDERS}\s+{_FR_EARLIER}|tout\s+ce\s+qui\s+pr[eé]c[eè]de)
  | \b(?:ignora|ignore|ignorad|olvida|olvide|olvidad|descarta|omite)\s+
      (?:todas\s+(?:las|tus|sus)\s+{_ES_ORDERS}\b|(?:las|tus|sus)\s+{_ES_ORDERS}\s+{_ES_EARLIER}|todo\s+lo\s+(?:anterior|de\s+arriba))
    """,
    0.95,
    "instruction override phrase",
    askable=True,
)

_OWN_RULES = r"(?:rules|guidelines|restrictions|filters|guardrails|policies|instructions|programming|limitations|constraints|ethics|training)\b"
_DE_OWN_RULES = r"(?:Regeln|Vorgaben|Anweisungen|Richtlinien|Einschr[äa]nkungen|Instruktionen)\b"
_FR_OWN_RULES = r"(?:r[eè]gles|consignes|instructions|restrictions|directives|limites)\b"
_ES_OWN_RULES = r"(?:reglas|normas|instrucciones|restricciones|directrices|pol[ií]ticas|l[ií]mites)\b"
RULES_OVERRIDE = _rule(
    "injection.override",
    rf"""
    \b(?:ignore|disregard|bypass|forget|override|break|abandon|drop|disable|turn\s+off|switch\s+off|get\s+around|circumvent)\s+
      (?:all\s+)?(?:of\s+)?your\s+(?:\w+\s+)?
      (?:rules|guidelines|restrictions|filters|guardrails|policies|programming|safety\s+(?:measures|rules|filters)|limitations|constraints|ethics|training|content\s+polic(?:y|ies))\b
  | \byou\s+(?:are\s+)?no\s+longer\s+(?:bound|restricted|limited|constrained)\s+by\b
  | \b(?:new|updated|real|actual|true)\s+(?:system\s+)?instructions?\s*:
  | \bfrom\s+now\s+on,?\s+you\s+(?:will|must|shall|are\s+to)\s+(?:ignore|disregard|answer\s+without|respond\s+without|not\s+follow)
  | \b(?:deine|Ihre)\s+(?:Regeln|Richtlinien|Einschr[äa]nkungen|Filter)\s+(?:gelten|sind)\s+(?:nicht\s+mehr|ab\s+sofort\s+aufgehoben)
  | \b(?:umgehe|ignoriere|deaktiviere)\s+(?:deine|Ihre|alle)\s+(?:Regeln|Richtlinien|Einschr[äa]nkungen|Filter|Sicherheitsregeln)\b
  | \b(?:contourne|d[eé]sactive|ignore)\s+(?:tes|vos|toutes\s+tes|toutes\s+vos)\s+(?:r[eè]gles|restrictions|filtres|limites)\b
  | \b(?:salta|desactiva|ignora|evita)\s+(?:tus|sus|todas\s+tus)\s+(?:reglas|restricciones|filtros|l[ií]mites)\b
  | \b(?:stop|quit|cease)\s+(?:following|obeying|applying|respecting|enforcing|observing|complying\s+with|sticking\s+to)\s+(?:all\s+)?(?:of\s+)?your\s+(?:\w+\s+)?{_OWN_RULES}
  | \byou\s+(?:don't|do\s+not|no\s+longer|needn't|need\s+not)\s+(?:have\s+to\s+|need\s+to\s+)?(?:follow|obey|apply|respect|comply\s+with|stick\s+to)\s+your\s+(?:\w+\s+)?{_OWN_RULES}
  | \bh[äa]lte?\s+dich\s+(?:ab\s+(?:jetzt|sofort)\s+|ab\s+heute\s+)?nicht\s+(?:mehr\s+|l[äa]nger\s+)?an\s+(?:deine|Ihre)\s+{_DE_OWN_RULES}
  | \bh[öo]r\s+auf,?\s+(?:dich\s+an\s+)?(?:deine|Ihre)\s+{_DE_OWN_RULES}\s+(?:zu\s+befolgen|zu\s+beachten|einzuhalten|zu\s+halten)
  | \b(?:befolge|beachte)\s+(?:deine|Ihre)\s+{_DE_OWN_RULES}\s+(?:ab\s+(?:jetzt|sofort)\s+)?nicht\s+mehr
  | \b(?:arr[eê]tez?|cessez?)\s+(?:de\s+|d')(?:suivre|respecter|appliquer|ob[eé]ir\s+[àa])\s+(?:tes|vos)\s+{_FR_OWN_RULES}
  | \bne\s+(?:respecte|respectez|suis|suivez|applique|appliquez|tiens\s+(?:plus\s+)?compte\s+de|tenez\s+(?:plus\s+)?compte\s+de)\s+(?:plus\s+)?(?:tes|vos)\s+{_FR_OWN_RULES}
  | \b(?:deja|dejad|deje)\s+de\s+(?:seguir|cumplir|respetar|obedecer|aplicar)\s+(?:tus|sus|vuestras)\s+{_ES_OWN_RULES}
  | \bno\s+(?:sigas|cumplas|respetes|obedezcas|apliques)\s+(?:m[aá]s\s+)?(?:tus|sus)\s+{_ES_OWN_RULES}
  | \bya\s+no\s+(?:tienes|tiene|debes|necesitas)\s+(?:que\s+)?(?:seguir|cumplir|respetar|obedecer)\s+(?:tus|sus)\s+{_ES_OWN_RULES}
    """,
    0.9,
    "request to drop the model's rules",
    askable=True,
)

# Limits of the model itself; "dietary restrictions" or "restrictions on travel" are not among them.
_MODEL_LIMITS = (
    r"(?:(?:content|safety|ethical|moral|corporate|built-in)\s+)?(?:rules|restrictions|limits|limitations|filters|guidelines|guardrails|polic(?:y|ies)|constraints|censorship)\b"
    r"(?!\s+(?:on|for|about|regarding|in|to)\s+(?!what\s+you))"
)
# DAN stays case-sensitive in these rules: "Dan from accounting" is a colleague.
_UNRESTRICTED = r"(?:unrestricted|unfiltered|uncensored|jailbroken|amoral|unethical|unbound|evil|without\s+(?:any\s+)?(?:rules|restrictions|limits|filters|guidelines|ethics|morals))"
PERSONA = _rule(
    "injection.jailbreak",
    rf"""
    \byou\s+are\s+now\s+(?:(?-i:DAN)|(?:an?\s+)?{_UNRESTRICTED})
  | \b(?-i:DAN)\s+mode\b | \b(?-i:DAN)\b[^.\n]{{0,40}}\bdo\s+anything\s+now\b
  | \bdo\s+anything\s+now\b
  | \b(?:you\s+are|you're|act\s+as|acting\s+as|enter|entering|switch\s+to|now\s+in|simulate|enable|activate)\b
      [^.\n]{{0,30}}\b(?:developer|god|jailbreak|unrestricted|sudo|dev)\s+mode\b
  | \b(?:ChatGPT|GPT|AI|assistant|model|you)\s+with\s+developer\s+mode\b
  | \b(?:act|behave|respond|answer|reply|pretend|roleplay|role-play)\s+(?:as|like|to\s+be)\s+(?:if\s+you\s+(?:were|are)\s+)?(?:an?\s+)?(?:\w+\s+)?{_UNRESTRICTED}
  | \b(?:pretend|imagine|suppose)\s+(?:that\s+)?you\s+(?:are|were|have)\s+(?:an?\s+)?(?:\w+\s+){{0,3}}?(?:no|without)\s+(?:\w+\s+)?(?:rules|restrictions|limits|filters|guidelines|content\s+polic\w+|ethical)
  | \b(?:stay|remain)\s+in\s+character\b[^.\n]{{0,60}}\b(?:no\s+matter|even\s+if|whatever|always)
  | \b(?:with|has|have)\s+no\s+(?:ethical|moral)\s+(?:guidelines|restrictions|boundaries|limits)
  | \bdu\s+bist\s+(?:jetzt|ab\s+sofort|nun)\s+(?:ein\w*\s+)?(?:(?:KI|AI|Assistent\w*|Modell|Chatbot)\s+)?(?:(?-i:DAN)|uneingeschr[äa]nkt\w*|unzensiert\w*|ohne\s+(?:Regeln|Einschr[äa]nkungen|Filter))
  | \b(?:spiel|spiele|tu\s+so,?\s+als\s+w[äa]rst\s+du)\b[^.\n]{{0,40}}\bohne\s+(?:Regeln|Einschr[äa]nkungen|Filter|Moral)
  | \btu\s+es\s+(?:maintenant|d[eé]sormais)\s+(?:un\w*\s+)?(?:(?-i:DAN)|IA\s+)?(?:sans\s+(?:restrictions?|r[eè]gles|filtres?|limites)|non\s+censur\w+|libre\s+de\s+toute)
  | \b(?:fais\s+comme\s+si|imagine\s+que)\s+tu\s+(?:n'avais|n'as)\s+(?:aucune|plus\s+de)\s+(?:r[eè]gle|restriction|limite|filtre)
  | \b(?:ahora|a\s+partir\s+de\s+ahora)\s+eres\s+(?:un\w*\s+)?(?:(?-i:DAN)|IA\s+)?(?:sin\s+(?:restricciones|reglas|filtros|l[ií]mites)|sin\s+censura)
  | \b(?:finge|imagina)\s+que\s+(?:eres|no\s+tienes)\b[^.\n]{{0,40}}\b(?:sin\s+|ninguna\s+)(?:restricciones|reglas|filtros|l[ií]mites|restricci[oó]n|regla)
    """,
    0.9,
    "jailbreak persona",
    askable=True,
)

# A hypothetical in which the model has no rules. The conjugation already speaks to the model
# ("tuvieras", "hättest"), so a question is no excuse.
COUNTERFACTUAL = _rule(
    "injection.jailbreak",
    rf"""
    \bif\s+you\s+(?:had|were\s+to\s+have)\s+(?:absolutely\s+|really\s+|simply\s+)?no\s+{_MODEL_LIMITS}
  | \bif\s+you\s+(?:didn't|did\s+not)\s+have\s+any\s+{_MODEL_LIMITS}
  | \bif\s+you\s+were\s+(?:free\s+of|without|freed\s+from)\s+(?:any\s+|all\s+)?(?:your\s+|of\s+your\s+)?{_MODEL_LIMITS}
  | \b(?:world|universe|reality|timeline|scenario|version\s+of\s+(?:you|yourself))\s+(?:where|in\s+which)\s+you\s+(?:have|had|are|were)\s+(?:no|without(?:\s+any)?)\s+{_MODEL_LIMITS}
  | \bwith\s+no\s+{_MODEL_LIMITS}\s+on\s+what\s+you\s+(?:can|could|may|might|are\s+allowed\s+to)\s+(?:say|answer|tell|share|reveal|output|write)
  | \bwenn\s+du\s+keine\s+(?:Regeln|Einschr[äa]nkungen|Vorgaben|Filter|Richtlinien|Grenzen)\s+h[äa]ttest\b
  | \bsi\s+tu\s+n'avais\s+(?:aucune?|pas\s+de|plus\s+de)\s+(?:r[eè]gles?|restrictions?|limites?|filtres?|consignes?)\b
  | \bsi\s+no\s+(?:tuvieras|tuvieses)\s+(?:ning[uú]na?\s+)?(?:reglas?|restricci[oó]n(?:es)?|normas?|filtros?|l[ií]mites?)\b
    """,
    0.9,
    "hypothetical in which the model has no rules",
)

PROMPT_LEAK = _rule(
    "injection.prompt_leak",
    r"""
    \b(?:reveal|print|show|display|output|repeat|dump|leak|tell\s+me|give\s+me|write\s+out|spell\s+out|recite|list|share|paste|what\s+(?:is|are|was|were))\s+
      (?:me\s+|us\s+)?(?:your|the)\s+(?:full\s+|entire\s+|exact\s+|complete\s+|original\s+|verbatim\s+)?
      (?:system|initial|hidden|original|secret|internal|pre-?prompt|developer|confidential)\s+(?:prompt|instructions|message|directives|rules|configuration)\b
  | \b(?:repeat|print|output|copy|recite|echo)\s+(?:back\s+)?(?:all\s+|everything\s+|the\s+(?:text|words|lines|content)\s+)?(?:of\s+)?(?:the\s+)?(?:text|words|lines|content|everything)?\s*
      (?:above|before\s+(?:this|my)\s+(?:message|line|question)|preceding\s+this)\b[^.\n]{0,40}?(?:verbatim|word\s+for\s+word|exactly|starting\s+(?:with|from)|including)
  | \b(?:list|repeat|quote|summari[sz]e|print|recite|share|show|reveal|output|write\s+out|tell\s+me|translate)\b[^.\n]{0,40}?\b(?:instructions|rules|guidelines|directives)\s+
      (?:you\s+(?:were|have\s+been)\s+given|(?:that\s+)?you\s+(?:were|are)\s+(?:told|given|asked)\s+to\s+follow|from\s+your\s+(?:operators?|developers?|creators?))
  | \bwhat\s+(?:were\s+you|have\s+you\s+been)\s+(?:told|instructed|programmed)\s+(?:before|to\s+do\s+before|at\s+the\s+start|initially|by\s+(?:your\s+)?(?:developers|creators|operators))
  | \b(?:your|the)\s+(?:system\s+prompt|initial\s+instructions|hidden\s+instructions)\s+(?:verbatim|word\s+for\s+word|in\s+full)\b
  | \b(?:zeige?|zeig|gib|verrate|wiederhole|nenne|drucke)\s+(?:mir\s+|uns\s+)?(?:deinen?|den|die|Ihren?|deine)\s+(?:vollst[äa]ndigen?\s+|genauen?\s+|geheimen?\s+|urspr[üu]nglichen?\s+)?
      (?:System-?[Pp]rompt|System-?[Aa]nweisungen|Systemnachricht|Anfangsanweisungen|versteckten?\s+Anweisungen|Anweisungen\s+vom\s+System)\b
  | \bwie\s+lauten\s+(?:deine|Ihre)\s+(?:urspr[üu]nglichen\s+|geheimen\s+|versteckten\s+)?(?:Anweisungen|Systemanweisungen|Instruktionen)\b
  | \b(?:r[eé]v[eè]le|montre|affiche|donne|r[eé]p[eè]te|[eé]cris|recopie)(?:[-\s]moi|[-\s]nous)?\s+(?:ton|tes|le|les|vos|votre)\s+
      (?:prompt\s+(?:syst[eè]me|initial|cach[eé])|instructions\s+(?:syst[eè]me|initiales|cach[eé]es|secr[eè]tes)|consignes\s+(?:initiales|cach[eé]es|syst[eè]me))\b
  | \bquelles\s+sont\s+(?:tes|vos)\s+(?:instructions|consignes)\s+(?:initiales|syst[eè]me|cach[eé]es|secr[eè]tes)
  | \b(?:muestra|revela|dime|ens[eé][nñ]ame|repite|escribe|imprime)(?:me|nos)?\s+(?:tu|tus|el|las|su|sus)\s+
      (?:prompt\s+(?:del\s+sistema|de\s+sistema|inicial|oculto)|instrucciones\s+(?:del\s+sistema|de\s+sistema|iniciales|ocultas|secretas))\b
  | \bcu[aá]les\s+son\s+tus\s+instrucciones\s+(?:iniciales|del\s+sistema|ocultas|secretas)
    """,
    0.9,
    "request to reveal the system prompt",
    askable=True,
)

CHAT_TEMPLATE = _rule(
    "injection.chat_template",
    r"""
    <\|(?:im_start|im_end|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id|end|im_sep)\|>
  | \[/?INST\] | <</?SYS>> | </?start_of_turn> | <end_of_turn> | <\|?/?(?:tool_call|function_call)\|?>
  | (?:^|[.!?:][ \t]+)[ \t]*\#{2,}[ \t]*(?:system|instruction|instructions|assistant|new\s+instructions|system\s+prompt)[ \t]*:
    """,
    0.9,
    "chat template control sequence",
    flags=_FLAGS | re.MULTILINE,
)

# Fake ends of the context or the question, to make what follows read as the operator's words.
DELIMITER = _rule(
    "injection.delimiter",
    r"""
    </\s*(?:context|document|documents|passage|passages|user_?input|user|query|question|data|retrieved|search_results)\s*>
  | <\s*(?:system|system_prompt|admin|developer|instructions?)\s*>
  | (?:^|[-=\#*\[(<]{2,}[ \t]*)(?:END|BEGIN|START)\s+(?:OF\s+)?(?:THE\s+)?(?:CONTEXT|DOCUMENTS?|PASSAGES?|USER\s+INPUT|USER\s+QUERY|SYSTEM\s+PROMPT|SYSTEM\s+MESSAGE|INSTRUCTIONS|CONVERSATION)\b
  | ^[ \t]*(?:```|~~~)[ \t]*(?:system|instructions?|assistant)[ \t]*$
  | ^[ \t]*\[?(?:SYSTEM|ADMIN|DEVELOPER)\s*(?:MESSAGE|OVERRIDE|NOTE|INSTRUCTION)?\]?[ \t]*:[ \t]*(?=\S)
    """,
    0.85,
    "fake context or role delimiter",
    flags=re.VERBOSE | re.MULTILINE,
)

PAYLOAD_SPLITTING = _rule(
    "injection.payload_splitting",
    r"""
    \b(?:concatenate|combine|join|merge|put\s+together|assemble|glue|add\s+up|string\s+together)\b[^.\n]{0,80}?
      \b(?:and|then)\s+(?:follow|execute|obey|do|run|perform|carry\s+out|act\s+on|answer)\b
  | \b(?:[a-z]\w{0,8}\s*(?:=|:=)\s*["'][^"'\n]{1,120}["']\s*[;,\n]\s*){2,}[^\n]{0,80}?
      \b(?:[a-z]\w{0,8}\s*\+\s*){1,6}[a-z]\w{0,8}\b
  | \b(?:decode|decipher|translate|convert|unscramble|reverse|rot13)\b[^.\n]{0,60}?
      \b(?:and|then)\s+(?:follow|execute|obey|do\s+what|run|perform|carry\s+out|act\s+on)\b
  | \b(?:setze|f[üu]ge)\b[^.\n]{0,60}\bzusammen\b[^.\n]{0,40}\b(?:befolge|f[üu]hre)\b
  | \b(?:concat[eè]ne|assemble|combine|d[eé]code)\b[^.\n]{0,60}\bpuis\s+(?:ex[eé]cute|suis|applique|ob[eé]is)\b
  | \b(?:concatena|une|combina|junta|decodifica|descifra)\b[^.\n]{0,60}\b(?:y|luego)\s+(?:ejecuta|sigue|obedece|haz\s+lo\s+que)\b
    """,
    0.85,
    "instruction split into parts or encoded, to be reassembled and followed",
)

_SENSITIVE_SCOPE = r"(?:access\s+(?:controls?|checks?|filters?|lists?|rules|restrictions|levels?)|permissions?|authori[sz]ation|clearance(?:\s+(?:checks?|levels?))?|ACLs?|tenant\s+(?:filters?|isolation|boundaries)|security\s+(?:filters?|checks?|controls?)|row-level\s+security|document\s+(?:permissions|restrictions))"
ACCESS_BYPASS = _rule(
    "injection.access_bypass",
    rf"""
    \b(?:bypass|ignore|skip|disable|turn\s+off|override|circumvent|get\s+around|remove|lift|drop)\s+(?:the\s+|all\s+|any\s+|my\s+|your\s+)?(?:\w+\s+)?{_SENSITIVE_SCOPE}\b
  | \b(?:pretend|assume|act\s+as\s+if|treat\s+me\s+as\s+if|consider)\s+(?:that\s+)?(?:I\s+am|I'm|I\s+have|me\s+as)\s+(?:an?\s+)?(?:\w+\s+)?
      (?:admin|administrator|root|superuser|owner|auditor|security\s+officer|(?:restricted|confidential|top\s+secret|full)\s+clearance|member\s+of\s+(?:the\s+)?\w+|in\s+the\s+\w+\s+group)\b
  | \b(?:grant|give|elevate)\s+(?:me|my\s+account|this\s+session)\s+(?:\w+\s+)?(?:admin|root|superuser|elevated|full|restricted|confidential)\s*(?:access|rights|privileges|permissions|clearance)
  | \b(?:show|give|list|read|include|return|open|send)\s+(?:me\s+)?(?:the\s+|all\s+|every\s+)?(?:[\w-]+\s+){0,3}?
      (?:documents?|files?|folders?|records?|data|results?|passages|notes|reports?|minutes|memos?|emails|contents|details|salar(?:y|ies))\b[^.\n]{0,80}?
      \b(?:even\s+(?:though|if)\s+I(?:'m|\s+am)?\s+(?:not|don't|do\s+not)|(?:I\s+)?(?:am\s+not|'m\s+not)\s+(?:allowed|authori[sz]ed|permitted|cleared)|regardless\s+of\s+(?:my\s+)?(?:access|permissions|clearance|group)|from\s+(?:other|another|all)\s+tenants?)
  | \b(?:umgehe|ignoriere|deaktiviere|[üu]berspringe)\s+(?:die\s+|alle\s+)?(?:Zugriffs\w+|Berechtigung\w*|Freigabe\w*|Sicherheitspr[üu]fung\w*)
  | \btu\s+so,?\s+als\s+(?:w[äa]re\s+ich|h[äa]tte\s+ich)\s+(?:ein\w*\s+)?(?:Admin\w*|Administrator\w*|Freigabe|Vollzugriff|Zugriff)
  | \b(?:contourne|ignore|d[eé]sactive|saute)\s+(?:le|les|la|tous\s+les)\s+(?:contr[oô]les?\s+d'acc[eè]s|permissions|autorisations|habilitations|filtres?\s+d'acc[eè]s)
  | \bfais\s+comme\s+si\s+j'[eé]tais\s+(?:un\s+)?(?:admin\w*|administrateur|habilit[eé])
  | \b(?:omite|ignora|salta|desactiva|evita)\s+(?:el|los|la|las|todos\s+los)\s+(?:control(?:es)?\s+de\s+acceso|permisos|autorizaci[oó]n|filtros?\s+de\s+acceso)
  | \b(?:finge|haz\s+como\s+si|supon)\s+que\s+(?:soy|tengo)\s+(?:un\s+)?(?:admin\w*|administrador|acceso\s+total|autorizaci[oó]n)
    """,
    0.9,
    "instruction to bypass access rules",
    askable=True,
)

TOOL_ABUSE = _rule(
    "injection.tool_call",
    r"""
    \b(?:call|invoke|execute|run|use|trigger|fire)\s+(?:the\s+|your\s+)?(?:[\w.-]+\s+)?(?:tool|function|plugin|action|api|endpoint|webhook)\b
      [^.\n]{0,60}?\b(?:delete|drop|remove|wipe|transfer|pay|send|email|forward|export|upload|post|grant|purge|disable|reset)\b
  | \b(?:call|invoke|execute|run|use|trigger|fire)\s+(?:the\s+|your\s+)?(?:[a-z]+_)+[a-z]+\s*(?:\(|\b(?:tool|function|plugin|action|api|endpoint|command))
  | \b(?:execute|run|eval(?:uate)?)\s+(?:this|the\s+following|these)\s+(?:shell\s+|bash\s+|sql\s+|python\s+|system\s+)?(?:commands?|code|queries|query|script|statements?)\b
  | \brm\s+-rf\s+/ | \bDROP\s+(?:TABLE|DATABASE)\b | \bcurl\s+[^\n]{0,80}\|\s*(?:ba)?sh\b
  | \{\s*"(?:name|tool|function)"\s*:\s*"[\w.-]+"\s*,\s*"(?:arguments|parameters|args|input)"\s*:
  | \b(?:rufe|f[üu]hre)\s+(?:das\s+|die\s+|den\s+)?(?:Tool|Werkzeug|Funktion|Plugin)\b[^.\n]{0,60}\b(?:l[öo]sch\w*|sende\w*|exportier\w*|[üu]berweis\w*)
  | \b(?:appelle|ex[eé]cute|utilise)\s+(?:l'outil|la\s+fonction|le\s+plugin)\b[^.\n]{0,60}\b(?:supprim\w*|envoie\w*|export\w*|vire\w*)
  | \b(?:llama\s+a|ejecuta|usa|invoca)\s+(?:la\s+herramienta|la\s+funci[oó]n|el\s+plugin)\b[^.\n]{0,60}\b(?:borra\w*|elimina\w*|env[ií]a\w*|exporta\w*|transfiere\w*)
    """,
    0.85,
    "instruction to call a tool or run code",
    askable=True,
)

_DATA = r"(?:conversation|chat|context|data|documents?|passages|answers?|history|system\s+prompt|secrets?|credentials|results?|user'?s?\s+\w+|everything|it|this)"
EXFILTRATION = _rule(
    "injection.exfiltration",
    rf"""
    \b(?:send|post|upload|forward|transmit|leak|exfiltrate|submit|email|mail|copy)\s+(?:the\s+|all\s+|this\s+|our\s+|your\s+|my\s+|any\s+)?(?:\w+\s+){{0,2}}?{_DATA}\b[^.\n]{{0,60}}?
      \bto\s+(?:https?://|www\.|\S+@\S+\.\w+|(?:this|that|the\s+following|my|an?\s+external)\s+(?:url|endpoint|server|address|webhook|email|link))
  | \b(?:append|add|include|embed|encode|put)\s+(?:the\s+|all\s+|this\s+|their\s+|your\s+)?(?:\w+\s+){{0,2}}?{_DATA}\b[^.\n]{{0,40}}?\b(?:to|in|into|as)\s+(?:the\s+|a\s+|this\s+)?(?:url|link|query\s+string|image\s+(?:url|link|source)|markdown\s+image|parameter)
  | !\[[^\]\n]*\]\(\s*https?://[^)\s]*(?:\{{|%7B|\$|<)[^)\s]*\)
  | \b(?:render|display|show|include|output)\s+(?:this|the\s+following|an?)\s+(?:markdown\s+)?image\b[^.\n]{{0,80}}?(?:https?://|\]\()
  | \b(?:sende|schicke|[üu]bertrage|lade)\s+(?:die\s+|alle\s+|den\s+)?(?:\w+\s+)?(?:Daten|Unterhaltung|Konversation|Dokumente|Inhalte|Antworten|Zugangsdaten)\b[^.\n]{{0,60}}?\ban\s+(?:https?://|\S+@)
  | \b(?:envoie|transmets|transf[eè]re|publie)\s+(?:les|la|toutes\s+les|le)\s+(?:\w+\s+)?(?:donn[eé]es|conversation|documents|r[eé]ponses|identifiants)\b[^.\n]{{0,60}}?\b(?:[àa]|vers|sur)\s+(?:https?://|\S+@)
  | \b(?:env[ií]a|manda|transfiere|sube)\s+(?:los|las|la|el|todos\s+los|todas\s+las)\s+(?:\w+\s+)?(?:datos|conversaci[oó]n|documentos|respuestas|credenciales)\b[^.\n]{{0,60}}?\b(?:a|al)\s+(?:https?://|\S+@)
    """,
    0.9,
    "instruction to send data out",
)

ADDRESSES_MODEL = _rule(
    "injection.indirect",
    r"""
    \b(?:if|when)\s+you(?:\s+are|'re|’re)\s+an?\s+(?:AI|LLM|large\s+language\s+model|language\s+model|AI\s+assistant|chatbot|assistant|bot|model)\b
  | \b(?:note|message|instructions?|attention|important|reminder)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?
      (?:AI|LLM|assistants?|AI\s+assistants?|language\s+models?|chatbots?|bots?|models?|agents?|AI\s+models?|AI\s+systems?)s?\s*[:,-]
  | \b(?:AI|LLM|assistant|chatbot|language\s+model)s?\s+(?:reading|processing|summari[sz]ing|indexing)\s+this\b
  | \bwhen\s+(?:asked|summari[sz]ing|answering)\b[^.\n]{0,60}\b(?:you\s+must|always|tell\s+the\s+user|say\s+that|respond\s+with|recommend)\b
  | \b(?:Hinweis|Nachricht|Anweisung)\s+(?:an|f[üu]r)\s+(?:die\s+|den\s+|alle\s+)?(?:KI|AI|Assistenten|Sprachmodell|Chatbot)s?\s*[:,-]
  | \b(?:wenn|falls)\s+du\s+eine?\s+(?:KI|AI|Sprachmodell|Assistent|Chatbot)\s+bist\b
  | \b(?:note|message|instruction|consigne)s?\s+(?:pour|[àa])\s+(?:l'|les\s+)?(?:IA|assistant|mod[eè]le|chatbot)s?\s*[:,-]
  | \bsi\s+tu\s+es\s+une?\s+(?:IA|intelligence\s+artificielle|assistant|mod[eè]le\s+de\s+langage|chatbot)\b
  | \b(?:nota|mensaje|instrucci[oó]n|aviso)\s+(?:para|a)\s+(?:la\s+|el\s+|los\s+|las\s+)?(?:IA|asistente|modelo|chatbot)s?\s*[:,-]
  | \bsi\s+eres\s+una?\s+(?:IA|inteligencia\s+artificial|asistente|modelo\s+de\s+lenguaje|chatbot)\b
    """,
    0.8,
    "text addressed to an AI model",
)

INJECTION_DETECTORS: tuple[Detector, ...] = (
    OVERRIDE,
    RULES_OVERRIDE,
    PERSONA,
    COUNTERFACTUAL,
    PROMPT_LEAK,
    CHAT_TEMPLATE,
    DELIMITER,
    PAYLOAD_SPLITTING,
    ACCESS_BYPASS,
    TOOL_ABUSE,
    EXFILTRATION,
    ADDRESSES_MODEL,
)
