"""Every template parses (tree-sitter-bicep for syntax, pycep for structure), what it loads
exists, and the parameter files fit main.bicep. Compilation itself needs `az bicep build`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

from tests.infra import BICEP_DIR, MAIN, PARAMETER_FILES, bicep_files, template

pytestmark = pytest.mark.infra

PARSER = Parser(Language(tree_sitter_bicep.language()))


def syntax_errors(source: bytes) -> list[str]:
    """`line:column` of every ERROR or missing node tree-sitter-bicep reports."""
    errors: list[str] = []

    def visit(node: Node) -> None:
        if node.type == "ERROR" or node.is_missing:
            row, column = node.start_point
            errors.append(f"{row + 1}:{column + 1} {node.type}")
        for child in node.children:
            visit(child)

    visit(PARSER.parse(source).root_node)
    return errors


def ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(BICEP_DIR)) for path in paths]


def test_there_is_a_main_template_and_modules():
    assert MAIN in bicep_files()
    assert len(bicep_files()) > 1


@pytest.mark.parametrize("path", bicep_files(), ids=ids(bicep_files()))
def test_template_has_no_syntax_error(path: Path):
    assert syntax_errors(path.read_bytes()) == []


def test_a_broken_copy_of_a_template_fails_the_syntax_check(tmp_path: Path):
    broken = tmp_path / "main.bicep"
    source = MAIN.read_text()
    # Drop the closing brace of the first module: the kind of slip an edit leaves behind.
    start = source.index("module identity")
    end = source.index("\n}\n", start)
    broken.write_text(source[:end] + source[end + 3 :])

    assert syntax_errors(broken.read_bytes()) != []


@pytest.mark.parametrize("path", bicep_files(), ids=ids(bicep_files()))
def test_template_parses_into_resources_or_modules(path: Path):
    parsed = template(path)
    assert parsed.resources or parsed.modules


@pytest.mark.parametrize("path", bicep_files(), ids=ids(bicep_files()))
def test_no_resource_uses_a_preview_api_version(path: Path):
    previews = {
        name: f"{resource['type']}@{resource['api_version']}"
        for name, resource in template(path).resources.items()
        if "preview" in resource["api_version"]
    }
    assert previews == {}


def test_every_module_main_uses_exists():
    for name, declared in template(MAIN).modules.items():
        assert (BICEP_DIR / declared["detail"]["path"]).is_file(), name


@pytest.mark.parametrize("path", bicep_files(), ids=ids(bicep_files()))
def test_every_json_file_a_template_loads_exists_and_is_json(path: Path):
    for relative in re.findall(r"loadJsonContent\('([^']+)'\)", path.read_text()):
        loaded = (path.parent / relative).resolve()
        assert loaded.is_file(), f"{path.name} loads {relative}"
        json.loads(loaded.read_text())


def test_there_are_dev_and_prod_parameter_files():
    names = {path.name for path in PARAMETER_FILES}
    assert {"main.dev.parameters.json", "main.prod.parameters.json"} <= names


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=ids(PARAMETER_FILES))
def test_parameter_file_sets_only_declared_parameters_and_every_required_one(path: Path):
    declared = template(MAIN).parameters
    given = json.loads(path.read_text())["parameters"]
    required = {name for name, param in declared.items() if param.get("default") is None}

    assert set(given) <= set(declared)
    assert required <= set(given)


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=ids(PARAMETER_FILES))
def test_parameter_file_values_respect_allowed_and_bounds(path: Path):
    declared = template(MAIN).parameters
    for name, entry in json.loads(path.read_text())["parameters"].items():
        value = entry["value"]
        if isinstance(value, str) and value.startswith("${"):
            continue  # azd substitutes its environment values
        for decorator in declared[name].get("decorators", []):
            kind, argument = decorator["type"], decorator.get("argument")
            if kind == "allowed":
                assert value in argument, name
            elif kind == "min_value":
                assert value >= argument, name
            elif kind == "max_value":
                assert value <= argument, name
            elif kind == "max_length":
                assert len(value) <= argument, name
