"""Dialog sources cut into one (context, next turn) example per conversation, as Flan does.

wiki_dialog: a row is a conversation with an `utterances` list; the target is an odd turn
(a seeded choice per conversation), the context the turns before it.
QReCC: a row is a turn (`Conversation_no`, `Turn_no`, `Question`, `Answer`); only turns with
`Turn_no > 6` are targets, one seeded choice per conversation, the context being the earlier
questions and answers plus the chosen turn's question.
Columns named otherwise are mapped with the source's `rename`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from flanmix.hashing import seeded_rng
from flanmix.sources.records import Drops


def _id(row: dict[str, Any], id_field: str | None, default: str) -> str:
    if not id_field:
        return default
    if id_field not in row:
        raise ValueError(f"a row has no id field '{id_field}' (fields: {', '.join(row)})")
    return str(row[id_field])


FIELDS = ("context", "target", "turn", "conversation_id")
QRECC_MIN_TURN = 6  # Flan keeps QReCC turns with turn_id > 6


def wiki_dialog(
    rows: Iterable[tuple[str, dict[str, Any]]], drops: Drops, id_field: str | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    for row_id, row in rows:
        conv = _id(row, id_field, str(row.get("pid", row_id)))
        turns = row.get("utterances")
        if not isinstance(turns, list) or len(turns) < 2:
            drops.add("short_conversation", f"conversation {conv}")
            continue
        turn = seeded_rng("wiki_dialog", conv).choice(range(1, len(turns), 2))
        rest = {k: v for k, v in row.items() if k != "utterances"}
        yield (
            conv,
            {
                **rest,
                "context": [str(t) for t in turns[:turn]],
                "target": str(turns[turn]),
                "turn": turn,
                "conversation_id": conv,
            },
        )


def qrecc(
    rows: Iterable[tuple[str, dict[str, Any]]], drops: Drops, id_field: str | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Holds one conversation's turns at a time only after grouping every turn by conversation
    (QReCC's training split is about 63k turns)."""
    conversations: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for _, row in rows:
        missing = [k for k in ("Conversation_no", "Turn_no", "Question", "Answer") if k not in row]
        if missing:
            drops.add("missing_field", f"row without {', '.join(missing)}")
            continue
        try:
            turn = int(row["Turn_no"])
        except (TypeError, ValueError):
            drops.add("bad_turn_no", f"conversation {row['Conversation_no']}: {row['Turn_no']!r}")
            continue
        conversations[str(row["Conversation_no"])][turn] = row
    for conv in sorted(conversations, key=lambda c: (len(c), c)):
        turns = conversations[conv]
        late = sorted(t for t in turns if t > QRECC_MIN_TURN)
        if not late:
            drops.add("short_conversation", f"conversation {conv}")
            continue
        turn = seeded_rng("qrecc", conv).choice(late)
        context: list[str] = []
        for t in sorted(turns):
            if t >= turn:
                break
            context += [str(turns[t]["Question"]), str(turns[t]["Answer"])]
        context.append(str(turns[turn]["Question"]))
        row = turns[turn]
        cid = _id(row, id_field, conv)
        yield (
            cid,
            {
                "context": context,
                "target": str(row["Answer"]),
                "turn": turn,
                "conversation_id": conv,
            },
        )
