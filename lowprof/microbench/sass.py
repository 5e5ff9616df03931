"""Read SASS (``nvdisasm -c`` text): instructions per kernel, the hot loop, opcode counts and the
register-bank parity of each instruction's source operands.

Volta and later read register operands from 2 banks (register index mod 2) per sub-core (Jia et al. 2018,
section 2; Huerta et al. 2025); a ``.reuse`` flag serves an operand from the operand-reuse cache instead.
What is classified here is ptxas's allocation, not something CUDA C controls.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

__all__ = ["Instr", "parse_sass", "hot_loop", "opcode_counts", "bank_parity", "BankStats"]

_FUNC = re.compile(r"^\.text\.(\S+):\s*$")
_LABEL = re.compile(r"^(\.L_x_\d+):\s*$")
_INSTR = re.compile(r"^/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z0-9_.]+)\s*(.*?)\s*;")
_REG = re.compile(r"(?<![A-Z_])-?\|?(R\d+)(\.reuse)?")
_TARGET = re.compile(r"`\((\.L_x_\d+)\)")


@dataclass(frozen=True)
class Instr:
    """One SASS instruction: byte offset, opcode with modifiers (``FFMA``, ``MUFU.EX2``), operand text,
    the label just before it (if any) and the branch target label (if a branch)."""

    offset: int
    opcode: str
    operands: str
    label: str | None = None
    target: str | None = None

    @property
    def base(self) -> str:
        """Opcode without modifiers: ``MUFU.EX2`` -> ``MUFU``."""
        return self.opcode.split(".")[0]

    def registers(self) -> list[tuple[int, bool]]:
        """General registers in operand order as (index, reuse flag); RZ excluded. The first is the
        destination for arithmetic instructions."""
        return [(int(m.group(1)[1:]), bool(m.group(2))) for m in _REG.finditer(self.operands)]


def parse_sass(text: str) -> dict[str, list[Instr]]:
    """Kernel name -> its instructions, in address order."""
    out: dict[str, list[Instr]] = {}
    cur: list[Instr] | None = None
    label = None
    for raw in text.splitlines():
        line = raw.strip()
        if m := _FUNC.match(line):
            cur = out.setdefault(m.group(1), [])
            label = None
        elif (m := _LABEL.match(line)) and cur is not None:
            label = m.group(1)
        elif (m := _INSTR.match(line)) and cur is not None:
            t = _TARGET.search(m.group(4))
            cur.append(Instr(int(m.group(1), 16), m.group(3), m.group(4), label, t.group(1) if t else None))
            label = None
    return out


def hot_loop(instrs: list[Instr]) -> list[Instr]:
    """The longest loop body: from a label to a branch back to it (a backward ``BRA``). Empty if none."""
    where = {i.label: k for k, i in enumerate(instrs) if i.label}
    best: list[Instr] = []
    for k, i in enumerate(instrs):
        if i.base == "BRA" and i.target in where and where[i.target] <= k:
            body = instrs[where[i.target]:k + 1]
            if len(body) > len(best):
                best = body
    return best


def opcode_counts(instrs: list[Instr]) -> Counter:
    """How many of each opcode (with modifiers)."""
    return Counter(i.opcode for i in instrs)


@dataclass(frozen=True)
class BankStats:
    """Source-operand bank parity over the instructions of one opcode in a loop body.

    ``same_bank`` counts instructions whose register sources not served by ``.reuse`` number >= 2 and all
    share a parity (two or three reads from one bank in one issue); ``mixed`` the rest with >= 2 such reads;
    ``same_register`` the part of ``same_bank`` where those sources are all one register.
    """

    opcode: str
    instructions: int
    same_bank: int
    mixed: int
    reuse_operands: int
    same_register: int = 0

    @property
    def same_bank_fraction(self) -> float:
        n = self.same_bank + self.mixed
        return self.same_bank / n if n else 0.0


def bank_parity(instrs: list[Instr], opcode: str = "FFMA") -> BankStats:
    """Classify each ``opcode`` instruction of ``instrs`` by the parity of its register sources."""
    same = mixed = reuse = n = one_reg = 0
    for i in instrs:
        if i.opcode != opcode:
            continue
        n += 1
        srcs = i.registers()[1:]
        reuse += sum(r for _, r in srcs)
        read = [idx % 2 for idx, r in srcs if not r]
        if len(read) >= 2:
            if len(set(read)) == 1:
                same += 1
                one_reg += len({idx for idx, r in srcs if not r}) == 1
            else:
                mixed += 1
    return BankStats(opcode, n, same, mixed, reuse, one_reg)
