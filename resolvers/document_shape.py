"""How large a document is before any validation rule sees it: the two measures that bound
graphql-core's validation and strawberry's limiters.

graphql-core's OverlappingFieldsCanBeMergedRule compares every pair of fields with the same
response name: 450 repeated fields (9 KB) took 0.7 to 2.3 s of validation on the issue's
machine (5 s on a loaded 2-core one; 100 of them 0.6 s). strawberry's QueryDepthLimiter and
MaxAliasesLimiter walk a fragment again at every spread, so a chain of fragments that each
spread the next twice costs 2^n.

- `count_selections` counts fields, inline fragments and spreads with every fragment expanded,
  each fragment counted once and then reused: linear in the text, whatever the fan-out. Any
  walk over the expanded document is at most that long.
- `count_repeats` (run only below the selection limit, so its walk is short) is the most fields
  graphql-core compares together: one response name in one selection set, fragments merged in,
  and under repeated parents the children of all of them (`order { items } order { items }`
  compares two `items`); or the most fragments it compares pairwise in one selection set.

Measured (loaded 2-core machine, graphql-core 3.3): at 300 selections and 10 repeats the worst
shapes validate in 30 to 40 ms, as 300 distinct selections do.
"""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)


def count_selections(document: DocumentNode) -> int:
    """Selections (fields, inline fragments, fragment spreads) of every operation, each spread
    counted with the selections it brings: what any walk over the document visits."""
    fragments = {
        definition.name.value: definition for definition in document.definitions if isinstance(definition, FragmentDefinitionNode)
    }
    expanded: dict[str, int] = {}

    def count(selection_set: SelectionSetNode, visiting: frozenset[str]) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += 1 if selection.selection_set is None else 1 + count(selection.selection_set, visiting)
            elif isinstance(selection, InlineFragmentNode):
                total += 1 + count(selection.selection_set, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                total += 1
                if name not in expanded:
                    fragment = fragments.get(name)
                    if fragment is None or name in visiting:
                        continue  # unknown or cyclic: validation reports it
                    expanded[name] = count(fragment.selection_set, visiting | {name})
                total += expanded[name]
        return total

    return sum(
        count(definition.selection_set, frozenset())
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    )


def count_repeats(document: DocumentNode) -> int:
    """The most field nodes graphql-core compares together (those with one response name in one
    selection set, nested ones gathered from every such parent, fragments merged in), or the most
    distinct fragments spread into one such set, whichever is larger."""
    fragments = {
        definition.name.value: definition for definition in document.definitions if isinstance(definition, FragmentDefinitionNode)
    }

    def gather(
        selection_set: SelectionSetNode, groups: dict[str, list[FieldNode]], spread: set[str], visiting: frozenset[str]
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                groups.setdefault((selection.alias or selection.name).value, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                gather(selection.selection_set, groups, spread, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in spread and name not in visiting:
                    spread.add(name)
                    gather(fragment.selection_set, groups, spread, visiting | {name})

    def widest(selection_sets: list[SelectionSetNode]) -> int:
        groups: dict[str, list[FieldNode]] = {}
        spread: set[str] = set()
        for selection_set in selection_sets:
            gather(selection_set, groups, spread, frozenset())
        worst = len(spread)
        for group in groups.values():
            worst = max(worst, len(group))
            nested = [field.selection_set for field in group if field.selection_set is not None]
            if nested:
                worst = max(worst, widest(nested))
        return worst

    return max(
        (
            widest([definition.selection_set])
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
        ),
        default=0,
    )
