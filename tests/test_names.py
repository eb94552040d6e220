"""Variant names and folders are injective: random grid values never share one (issue 10).

Fast and without kernels: values drawn with a fixed seed from the characters that broke
names before (the name syntax, path characters, ``%``, invisible and non-ASCII characters,
strings that read as numbers, long strings), checked at the level of names and of a
validated spec's run graph.
"""

from __future__ import annotations

import json
import random
import string

from nbgraph.graph import find_variants, run_graph, variants_of
from nbgraph.names import canonical, format_value, parse_name, slug, variant_name
from nbgraph.spec import load_spec

CHARS = list(string.ascii_letters + string.digits + ",=[]{}\"'\\/.%-_+ ~:#\n\t\r\x00\x7f") + [
    "é", "É", "ß", "日", "\u00a0", "\u2028", "\u200b", "\u202e", "e\u0301", "\U0001f600", "\ud800"]
PIECES = ["..", "/", "a/b", "a_b-cd83076d3d", "1", "1.0", "-1", "1e5", "true", "null", "NaN", "-Infinity",
          "[1]", "{}", '"x"', "%2F", "%25", "%2D", "k=v", "a,b", "]", "[", " ", "default"]
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def random_value(rng: random.Random):
    kind = rng.random()
    if kind < 0.65:
        n = rng.choice([0, 1, 2, 3, 5, 8, 13, 30, 95, 120, 300])
        return "".join(rng.choice(PIECES) if rng.random() < 0.2 else rng.choice(CHARS) for _ in range(n))
    if kind < 0.75:
        return rng.choice([0, 1, -1, 10**20, rng.randint(-1000, 1000)])
    if kind < 0.85:
        return rng.choice([0.1, 1.0, -0.0, 1e-7, 1e300, rng.uniform(-10, 10)])
    if kind < 0.9:
        return rng.choice([True, False, None])
    if kind < 0.95:
        return [random_value(rng) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["a", "b", "k=v", ","]): random_value(rng) for _ in range(rng.randint(0, 3))}


def distinct_values(rng: random.Random, n: int) -> list:
    seen, out = set(), []
    while len(out) < n:
        value = random_value(rng)
        if canonical(value) not in seen:
            seen.add(canonical(value))
            out.append(value)
    return out


def assert_folder_name(folder: str) -> None:
    assert folder not in ("", ".", "..") and "/" not in folder and "\0" not in folder and "\\" not in folder
    assert folder.isascii() and folder.isprintable() and len(folder.encode()) <= 100


def test_random_values_never_share_a_name_or_a_folder_and_names_read_back():
    rng = random.Random(20240610)
    values = distinct_values(rng, 3000)
    identities = [(("p", v),) for v in values] + [(("p", rng.choice(values)), ("q", v)) for v in values]
    identities = list({tuple((k, canonical(v)) for k, v in i): i for i in identities}.values())
    names = [variant_name("train", i) for i in identities]
    folders = [slug(i) for i in identities]
    assert len(set(names)) == len(identities) == len(set(folders))
    for identity, name, folder in zip(identities, names, folders):
        assert "\n" not in name and name.isprintable(), name
        node, pairs = parse_name(name)
        assert node == "train" and [(k, canonical(v)) for k, _, v in pairs] == [(k, canonical(v)) for k, v in identity]
        assert_folder_name(folder)
    by_folder: dict[str, str] = {}
    for name, folder in zip(names, folders):  # folders one only ignoring case: names that are, too (refused)
        other = by_folder.setdefault(folder.casefold(), name)
        assert other == name or other.translate(_ASCII_LOWER) == name.translate(_ASCII_LOWER), (other, name)


def test_plain_values_keep_their_names_and_folders():
    """What README shows, and what builds made before values were quoted, stays as it was."""
    identity = (("scaler", "minmax"), ("model", "svm"), ("strength", 0.1), ("on", True), ("n", None), ("l", [1, 2]))
    assert variant_name("train", identity) == "train[scaler=minmax,model=svm,strength=0.1,on=true,n=null,l=[1,2]]"
    assert slug(identity[:3]) == "scaler=minmax,model=svm,strength=0.1"
    assert [format_value(v) for v in ("a b", "é", "1.0.0", "-", "nan")] == ["a b", "é", "1.0.0", "-", "nan"]
    long = tuple((f"k{i}", "v" * 20) for i in range(5))
    # as nbgraph has always cut long folder names (so their builds do not re-run)
    assert slug(long) == "k0=vvvvvvvvvvvvvvvvvvvv,k1=vvvvvvvvvvvvvvvvvvvv,k2=vvvvvvvvvvvvvvvvvvvv,k3=vvvvv-993482c6d3"


def test_random_grids_of_a_spec_give_findable_variants_in_folders_of_their_own(project):
    project.notebook("a.ipynb", "pass")
    project.notebook("b.ipynb", "pass")
    rng = random.Random(7)
    values, shown, folded = [], set(), set()
    for value in distinct_values(rng, 400):  # leave out what validation refuses, tested in test_spec
        plain = value if isinstance(value, str) else format_value(value)
        key = format_value(value).translate(_ASCII_LOWER)
        if plain not in shown and key not in folded:
            shown.add(plain)
            folded.add(key)
            values.append(value)
        if len(values) == 60:
            break
    spec = project.spec("notebooks:\n  a: {path: a.ipynb, grid: {p: %s}}\n  b: {path: b.ipynb, parent: a, grid: {q: [1, '1,q=1']}}\n"
                        % json.dumps(values))
    rg = run_graph(load_spec(spec))
    variants = variants_of(rg)
    assert len(variants) == 60 * 3
    for node in ("a", "b"):
        folders = [v.slug for v in variants if v.node == node]
        assert len({f.casefold() for f in folders}) == len(folders)
        for folder in folders:
            assert_folder_name(folder)
    for v in variants:
        assert find_variants(rg, v.name) == [v]
        if v.node == "b":
            p = dict(v.identity)["p"]
            assert {x.name for x in find_variants(rg, f"b[p={format_value(p)}]")} == {
                x.name for x in variants if x.node == "b" and canonical(dict(x.identity)["p"]) == canonical(p)}
