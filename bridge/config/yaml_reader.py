"""YAML → plain data, with the 1-based line of every key path.

PyYAML's node tree is walked instead of ``yaml.safe_load`` so that each key path keeps its line
(for ``FILE:LINE`` messages) and a duplicate key is a problem (PyYAML silently keeps the last).
"""

from __future__ import annotations

from typing import Any

import yaml

from bridge.config.problems import ROOT_PATH, ConfigProblem, join_path

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlReader:
    """Builds plain data from PyYAML's node tree, recording each key path's 1-based line."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.loader = yaml.SafeLoader(text)
        self.lines: dict[str, int] = {}
        self.problems: list[ConfigProblem] = []

    def read(self) -> Any:
        try:
            node = self.loader.get_single_node()
            if node is None:
                self.problems.append(
                    ConfigProblem(self.file, 1, ROOT_PATH, "the file is empty: expected a mapping")
                )
                return None
            self.lines[""] = node.start_mark.line + 1
            return self._build(node, "", self.lines)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            what = str(exc.problem or exc.context or exc)
            if exc.context and exc.context_mark and exc.context_mark is not mark:
                what = f"{exc.context} (line {exc.context_mark.line + 1}): {what}"
            self.problems.append(ConfigProblem(self.file, line, ROOT_PATH, f"YAML syntax: {what}"))
        except yaml.YAMLError as exc:
            self.problems.append(ConfigProblem(self.file, 1, ROOT_PATH, f"YAML syntax: {exc}"))
        finally:
            self.loader.dispose()
        return None

    def _build(self, node: yaml.Node, path: str, lines: dict[str, int]) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, lines)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                child = f"{path}[{index}]"
                lines.setdefault(child, item.start_mark.line + 1)
                items.append(self._build(item, child, lines))
            return items
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: str, lines: dict[str, int]) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merge_sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                merges.extend(merge_sources)
                continue
            line = key_node.start_mark.line + 1
            key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                self.problems.append(
                    ConfigProblem(self.file, line, path or ROOT_PATH, "keys must be plain words")
                )
                continue
            key = str(key)  # `1:` or `yes:` is then reported as an unknown key, by name
            child = join_path(path, key)
            if key in result:
                self.problems.append(
                    ConfigProblem(
                        self.file,
                        line,
                        child,
                        f"duplicate key (first given at line {lines[child]})",
                    )
                )
                continue
            lines[child] = line
            result[key] = self._build(value_node, child, lines)
        for source in merges:  # YAML merge keys (<<: *anchor): explicit keys win
            merged_lines: dict[str, int] = {}
            merged = self._build(source, path, merged_lines)
            if not isinstance(merged, dict):
                self.problems.append(
                    ConfigProblem(
                        self.file,
                        source.start_mark.line + 1,
                        path or ROOT_PATH,
                        "a merge key (<<) needs a mapping",
                    )
                )
                continue
            for key, value in merged.items():
                if key not in result:
                    result[key] = value
                    prefix = join_path(path, key)
                    for sub, sub_line in merged_lines.items():
                        if sub == prefix or sub.startswith((prefix + ".", prefix + "[")):
                            lines.setdefault(sub, sub_line)
        return result
