"""A deterministic generator of synthetic vaults in the seed note's format.

``generate(folder, notes, seed)`` writes ``folder/content`` (an sdwiki vault: concept notes with
every standard section, thinker notes, 5–8 wikilinks per note to notes that exist) and
``folder/hugo`` (the same notes as a minimal Hugo site, wikilinks left as text). The same
``notes`` and ``seed`` always give byte-identical files.

Most notes are concepts; about one in ten is a thinker note. Thinkers, eras, examples, mitigation
strategies, severity factors, causes and works come from shared pools, so the graph has the
shape of a real wiki: one example or strategy named by many notes is one resource.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path

from sdwiki.slugs import slugify

_ADJECTIVES = (
    "Adaptive", "Asymmetric", "Bounded", "Coercive", "Collective", "Competitive", "Cooperative", "Covert",
    "Cumulative", "Defensive", "Delegated", "Diffuse", "Dual", "Economic", "Emergent", "Escalating",
    "Extended", "Fragile", "Hegemonic", "Hidden", "Hybrid", "Imperial", "Informal", "Institutional",
    "Latent", "Limited", "Maritime", "Mutual", "Naval", "Normative", "Nuclear", "Offensive",
    "Partial", "Peripheral", "Preventive", "Regional", "Relative", "Residual", "Strategic", "Structural",
    "Systemic", "Tacit", "Territorial", "Transnational", "Unipolar", "Veiled",
)  # fmt: skip
_NOUNS = (
    "Alignment", "Ambiguity", "Anarchy", "Assurance", "Balancing", "Bandwagoning", "Bargaining", "Brinkmanship",
    "Buck-Passing", "Commitment", "Compellence", "Containment", "Credibility", "Deterrence", "Détente",
    "Dominance", "Entrapment", "Escalation", "Hedging", "Hegemony", "Interdependence", "Misperception",
    "Mobilization", "Neutrality", "Overextension", "Parity", "Polarity", "Primacy", "Proliferation",
    "Reassurance", "Restraint", "Retrenchment", "Rivalry", "Signaling", "Sovereignty", "Spiral", "Stability",
    "Suspicion", "Threat", "Uncertainty", "Vulnerability", "Warning",
)  # fmt: skip
_KINDS = ("", "Dilemma", "Theory", "Model", "Problem", "Trap", "Paradox", "Effect", "Hypothesis", "Doctrine")
_FIRST = (
    "Ada", "Alan", "Anna", "Boris", "Carla", "Daniel", "Elena", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Karin",
    "Lars", "Maria", "Nadia", "Oscar", "Paula", "Rafael", "Sofia", "Tomas", "Ursula", "Viktor", "Wanda",
)  # fmt: skip
_SYLLABLES = (
    "bar", "ber", "dal", "den", "fal", "gar", "hol", "kam", "ker", "lan", "lor", "mar", "mer", "nor", "ral",
    "ren", "sal", "sen", "tor", "var", "vel", "wal", "win", "zan",
)  # fmt: skip
_ENDINGS = ("by", "dt", "ford", "ham", "ley", "man", "son", "ton", "vik", "wick")
_ERAS = (
    "Ancient", "Classical Greece", "Medieval", "Early Modern", "Napoleonic", "Concert of Europe", "Pre-WWI",
    "Interwar", "World War II", "Cold War", "Post-Cold War", "Contemporary",
)  # fmt: skip
_PLACES = (
    "Adriatic", "Aegean", "Alpine", "Andean", "Arctic", "Baltic", "Caspian", "Danube", "Iberian", "Levant",
    "Nile", "Pacific", "Rhine", "Sahel", "Silesian", "Taiwan Strait", "Tigris", "Ural", "Vistula", "Yellow Sea",
)  # fmt: skip
_EVENTS = (
    "naval race", "border crisis", "alliance scare", "mobilization spiral", "missile crisis", "arms buildup",
    "fortification race", "blockade", "war scare", "garrison standoff",
)  # fmt: skip
_STRATEGIES: dict[str, tuple[str, ...]] = {
    "Transparency": ("Arms control verification", "Military exchanges", "Published defense budgets"),
    "Defensive Postures": ("Clearly defensive deployments", "No first-use pledges", "Arms limitations"),
    "Institutions": ("Security regimes", "Communication channels", "Crisis management mechanisms"),
    "Signaling": ("Restraint", "Unilateral gestures", "Track II diplomacy"),
    "Confidence Building": ("Advance notice of exercises", "Observers at maneuvers", "Hotlines"),
    "Arms Control": ("Ceilings on forces", "Test bans", "Verification regimes"),
    "Reassurance": ("Costly signals", "Gradual reciprocation", "Public commitments"),
    "Mediation": ("Third-party good offices", "Shuttle diplomacy", "Joint commissions"),
    "Economic Ties": ("Trade agreements", "Joint ventures", "Shared infrastructure"),
    "Norm Building": ("Codes of conduct", "Shared doctrine talks", "Education exchanges"),
}
_FACTORS: dict[str, tuple[tuple[str, str], ...]] = {
    "Offense-Defense Balance": (("Offense-dominant", "More severe"), ("Defense-dominant", "Less severe")),
    "Distinguishability": (("Indistinguishable", "Severe"), ("Distinguishable", "Milder")),
    "Geography": (("Open borders", "Sharper fears"), ("Protective barriers", "Calmer relations")),
    "Regime Type": (("Two democracies", "Mild"), ("Mixed pair", "Spirals more likely")),
    "Power Shifts": (("Rapid shift", "Acute"), ("Stable distribution", "Muted")),
    "Information": (("Opaque decisions", "Worse"), ("Open debate", "Better")),
    "Technology": (("Fast weapons", "Hair-trigger"), ("Slow weapons", "Time to reflect")),
}
_CAUSES = (
    ("Anarchy", "No authority above states can guarantee their safety"),
    ("Uncertainty", "Others' present and future intentions cannot be known"),
    ("Ambiguity", "Defensive capabilities are hard to tell apart from offensive ones"),
    ("Worst-case thinking", "Prudence counsels assuming the worst about others"),
    ("Domestic pressure", "Leaders gain at home by appearing firm abroad"),
    ("Misperception", "Each side reads its own moves as benign and the other's as hostile"),
    ("Commitment problems", "Promises about future restraint are not credible"),
    ("Relative gains", "Each state fears that others gain more from cooperation"),
)  # fmt: skip
_STEPS = (
    "State A feels insecure", "State A builds military strength", "State B perceives a threat",
    "State B responds with its own buildup", "State A feels even less secure", "Tension spirals into rivalry",
    "Crisis diplomacy begins", "Both sides entrench",
)  # fmt: skip
_LIMITATIONS = (
    "Assumes states seek security rather than power",
    "Some states are genuinely aggressive",
    "Hard to distinguish a spiral from a deterrence situation",
    "Nuclear weapons complicate the dynamics",
    "Neglects the role of ideas and identity",
    "Evidence is drawn from a few well-known cases",
    "Domestic politics is left out",
)  # fmt: skip
_WORK_WORDS = (
    "Anarchy", "Order", "Fear", "Trust", "Power", "Restraint", "Alliances", "Crises", "War", "Peace", "Arms",
    "Security", "Rivalry", "Perception", "Strategy", "Empire", "Balance", "Deterrence",
)  # fmt: skip
_WORK_PAIRS = tuple(itertools.permutations(_WORK_WORDS, 2))
_TOPICS = (
    "alliances", "arms races", "border disputes", "crisis bargaining", "naval competition", "nuclear strategy",
    "trade rivalry", "territorial claims", "military doctrine", "intelligence failures",
)  # fmt: skip
_ROLES = ("formalised the argument", "empirical tests", "critical approach", "historical study", "game theory")
_TAGS = (
    "concept", "realism", "security", "theory", "deterrence", "alliances", "crisis", "nuclear", "cooperation",
    "conflict", "strategy", "perception", "institutions", "history",
)  # fmt: skip
_CATEGORIES = ("strategic", "structural", "psychological", "institutional", "historical")


@dataclass(frozen=True, slots=True)
class Thinker:
    name: str
    surname: str
    works: tuple[tuple[str, int, bool], ...]
    """(title, year, italic) of each work."""


@dataclass(frozen=True, slots=True)
class Vault:
    """What was generated: the titles of every note, for the benchmark's edits and queries."""

    content: Path
    hugo: Path
    concepts: tuple[str, ...]
    thinkers: tuple[str, ...]

    def concept_path(self, title: str) -> Path:
        return self.content / "concepts" / f"{title}.md"


def concept_titles(rng: random.Random, count: int) -> list[str]:
    combos = [" ".join(w for w in (a, n, k) if w) for a, n, k in itertools.product(_ADJECTIVES, _NOUNS, _KINDS)]
    if count > len(combos):
        raise ValueError(f"at most {len(combos)} concept notes can be generated")
    rng.shuffle(combos)
    return sorted(combos[:count])


def thinker_pool(rng: random.Random, count: int) -> list[Thinker]:
    surnames = [
        (a + b + c).capitalize()
        for a, b, c in itertools.product(_SYLLABLES, _SYLLABLES, _ENDINGS)
        if a != b  # no stutters
    ]
    rng.shuffle(surnames)
    thinkers = []
    for i, sname in enumerate(surnames[:count]):
        works = []
        # distinct word pairs: one title is one work, with one year
        for j, (a, b) in enumerate(rng.sample(_WORK_PAIRS, rng.randint(2, 3))):
            title = f"{a}, {b} and {sname}'s {'Question' if j % 2 else 'Argument'}"
            works.append((title, rng.randint(1950, 2020), bool((i + j) % 2)))
        thinkers.append(Thinker(f"{_FIRST[i % len(_FIRST)]} {sname}", sname, tuple(works)))
    return sorted(thinkers, key=lambda t: t.name)


def example_pool(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(example, era) pairs; an example always belongs to the same era."""
    names = [f"{p} {e}" for p, e in itertools.product(_PLACES, _EVENTS)]
    rng.shuffle(names)
    return [(name[0].upper() + name[1:], rng.choice(_ERAS)) for name in names[:count]]


def _sentence(rng: random.Random, title: str) -> str:
    a, b = rng.sample(_TOPICS, 2)
    return (
        f"{title} names a situation in which states that study {a} and {b} find that steps taken for "
        f"their own safety leave others feeling less safe, so that countermeasures and escalation follow "
        f"and every party ends up worse off. The idea explains why {a} so often lead to {b}."
    )


def plural(title: str) -> str:
    """A plural alias, as authors add them (``Security Dilemmas``)."""
    if title.endswith(("s", "x", "sh", "ch")):
        return title + "es"
    if title.endswith("y") and title[-2:-1] not in "aeiou":
        return title[:-1] + "ies"
    return title + "s"


def _reading(t: Thinker, work: tuple[str, int, bool]) -> str:
    title, year, italic = work
    shown = f"*{title}*" if italic else f'"{title}"'
    return f"- {t.surname}, {shown} ({year})"


def concept_note(
    rng: random.Random,
    title: str,
    related: list[str],
    keys: list[Thinker],
    examples: list[tuple[str, str]],
) -> str:
    lines = [
        "---",
        "type: concept",
        f"category: {rng.choice(_CATEGORIES)}",
        f"tags: [{', '.join(rng.sample(_TAGS, rng.randint(2, 4)))}]",
        f'aliases: ["{plural(title)}"]',
        "---",
        "",
        f"# {title}",
        "",
        "## Definition",
        _sentence(rng, title),
        "",
        "## Key Thinkers",
    ]
    for i, t in enumerate(keys):
        role = "coined term" if i == 0 else rng.choice(_ROLES)
        lines.append(f"- [[{t.name}]] ({role}, {rng.randint(1950, 2020)})")
    lines += ["", "## Core Mechanism", "```"]
    steps = rng.sample(_STEPS, rng.randint(4, 6))
    lines.append("\n    ↓\n".join(steps))
    lines += ["```", "", "## Why It Happens"]
    for i, (label, text) in enumerate(rng.sample(_CAUSES, rng.randint(3, 4)), 1):
        lines.append(f"{i}. **{label}**: {text}")
    lines += ["", f"## Severity Factors ({keys[0].surname})"]
    for factor in rng.sample(sorted(_FACTORS), 2):
        lines += ["", f"### {factor}"]
        for condition, effect in _FACTORS[factor]:
            lines.append(f"- **{condition}** conditions: {effect}")
    lines += ["", "## Historical Examples"]
    chosen = rng.sample(examples, min(len(examples), rng.randint(3, 5)))
    for era in sorted({e for _, e in chosen}, key=_ERAS.index):
        lines += ["", f"### {era}"]
        lines += [f"- {name}" for name, e in chosen if e == era]
    lines += ["", "## Mitigation Strategies"]
    for strategy in rng.sample(sorted(_STRATEGIES), 2):
        lines += ["", f"### {strategy}"]
        lines += [f"- {m}" for m in _STRATEGIES[strategy]]
    lines += ["", "## Limitations of Concept"]
    lines += [f"- {x}" for x in rng.sample(_LIMITATIONS, 3)]
    lines += ["", "## Related Concepts"]
    lines += [f"- [[{r}]]" for r in related]
    lines += ["", "## Further Reading"]
    lines += [_reading(t, t.works[0]) for t in keys]
    return "\n".join(lines) + "\n"


def thinker_note(rng: random.Random, t: Thinker, ideas: list[str]) -> str:
    lines = [
        "---",
        "type: thinker",
        "category: scholar",
        f"tags: [thinker, {rng.choice(_TAGS)}]",
        f'aliases: ["{t.surname}"]',
        "---",
        "",
        f"# {t.name}",
        "",
        "## Overview",
        f"{t.name} is a scholar of International Relations who wrote on {', '.join(rng.sample(_TOPICS, 3))}, "
        "asking why states that want only security so often end up in rivalry.",
        "",
        "## Key Ideas",
    ]
    lines += [f"- [[{idea}]] ({rng.choice(_ROLES)}, {rng.randint(1950, 2020)})" for idea in ideas]
    lines += ["", "## Major Works"]
    lines += [_reading(t, w) for w in t.works]
    return "\n".join(lines) + "\n"


def hugo_page(title: str, note: str) -> str:
    """The same note as a Hugo page: only a title in the frontmatter, the body unchanged."""
    body = note.split("---\n", 2)[2]
    escaped = title.replace("\\", "\\\\").replace('"', '\\"')
    return f'---\ntitle: "{escaped}"\n---\n{body}'


HUGO_CONFIG = """baseURL = "https://example.org/"
title = "bench"
disableKinds = ["taxonomy", "term", "RSS", "sitemap"]
"""
HUGO_SINGLE = "{{ .Content }}\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def generate(folder: Path, notes: int, seed: int = 1) -> Vault:
    """Write ``notes`` notes as ``folder/content`` and ``folder/hugo``; deterministic in ``seed``."""
    if notes < 20:
        raise ValueError("generate at least 20 notes")
    rng = random.Random(f"sdwiki-bench:{seed}:{notes}")
    n_thinkers = max(5, notes // 10)
    titles = concept_titles(rng, notes - n_thinkers)
    thinkers = thinker_pool(rng, n_thinkers)
    examples = example_pool(rng, max(10, min(len(_PLACES) * len(_EVENTS), notes // 5)))
    content, hugo = folder / "content", folder / "hugo"
    pages: dict[Path, tuple[str, str]] = {}
    for title in titles:
        # 5–8 wikilinks: 2–3 key thinkers, the rest related concepts
        keys = rng.sample(thinkers, rng.randint(2, 3))
        n_related = rng.randint(5, 8) - len(keys)
        related = [r for r in rng.sample(titles, n_related + 1) if r != title][:n_related]
        text = concept_note(rng, title, related, keys, examples)
        pages[Path("concepts") / f"{title}.md"] = (title, text)
    for t in thinkers:
        ideas = rng.sample(titles, rng.randint(5, 8))
        pages[Path("thinkers") / f"{t.name}.md"] = (t.name, thinker_note(rng, t, ideas))
    for rel, (title, text) in sorted(pages.items()):
        _write(content / rel, text)
        _write(hugo / "content" / "notes" / f"{slugify(title)}.md", hugo_page(title, text))
    _write(hugo / "config.toml", HUGO_CONFIG)
    _write(hugo / "layouts" / "_default" / "single.html", HUGO_SINGLE)
    return Vault(content, hugo, tuple(titles), tuple(t.name for t in thinkers))
