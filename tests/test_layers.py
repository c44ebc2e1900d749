"""The package's imports point one way: each layer imports only its own layer and the ones below.

`LAYERS` is the house's plan, bottom first (docs/ARCHITECTURE.md explains each room). The test reads
every module's imports with `ast`, function-local imports included, so a lazy import cannot hide an
upward edge. A new upward import fails with both files named; so does any circle of modules.
"""

from __future__ import annotations

import ast
import pathlib
import textwrap

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "unityvideo_jax"

# Bottom first. A module may import its own layer and the layers below it, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("modalities", "dtypes", "config", "configs", "host_memory", "storage"),  # registries, configs, host malloc, paths
    ("latents", "weights"),  # pixel codec and latent shapes; weight files (safetensors, Orbax, trees)
    ("parallel",),  # logical axes, presets, mesh, batch placement, sharded init
    ("attention",),  # kernels and the context-parallel strategies
    ("model",),  # dit/, vae/, text/: NNX modules and their own weight import
    ("diffusion", "convert"),  # flow matching, tasks, samplers; foreign DiT checkpoint formats
    ("data.render", "data.unisynth"),  # modality renderings and their decoders; the synthetic world
    ("data.records",),  # the record format, shards, manifests, the UniSynth TFDS builder
    ("data.ingest", "data.input"),  # real videos -> records; records -> training batches
    ("train",),  # state, step, constants, optimizer, checkpoints, the loop
    ("aot",),  # ahead-of-time plans for TPU slices
    ("infer", "eval"),  # the three tasks end to end; metrics and reports
    ("demo",),
    ("cli",),
)


def module_files(root: pathlib.Path, package: str = PACKAGE) -> dict[str, pathlib.Path]:
    """{dotted module name: file} of `package` under `root` (configs/ installs as `package`.configs)."""
    files = {}
    for folder, name in ((root / package, package), (root / "configs", f"{package}.configs")):
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            dotted = ".".join((name, *parts))
            files[dotted.removesuffix(".__init__")] = path
    return files


def imports(modules: dict[str, pathlib.Path], package: str = PACKAGE) -> dict[str, set[str]]:
    """{module: the package's modules it imports}; `from pkg import name` counts the submodule
    `pkg.name` when there is one, else `pkg`."""
    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == package:
                targets |= {resolve(f"{node.module}.{alias.name}") for alias in node.names}
            elif isinstance(node, ast.Import):
                targets |= {resolve(a.name) for a in node.names if a.name.split(".")[0] == package}
        graph[module] = {t for t in targets if t and t != module}
    return graph


def layer_of(module: str, layers=LAYERS, package: str = PACKAGE) -> int:
    """The index of the layer that holds `module` (its longest listed room: `data.render` before
    `data`); the package root sits above everything."""
    if module == package:
        return len(layers)
    path = module.removeprefix(f"{package}.")
    rooms = {room: index for index, names in enumerate(layers) for room in names}
    holding = [room for room in rooms if path == room or path.startswith(room + ".")]
    if holding:
        return rooms[max(holding, key=len)]
    inside = [index for room, index in rooms.items() if room.startswith(path + ".")]
    if inside:  # a folder split into rooms (data/__init__.py): as low as its lowest room
        return min(inside)
    room = ".".join(path.split(".")[:-1]) or path
    raise AssertionError(f"{module} is in no layer: add its folder {room!r} to LAYERS in tests/test_layers.py")


def upward_imports(root: pathlib.Path, layers=LAYERS, package: str = PACKAGE) -> list[str]:
    """'a.py imports b.py (layer x above layer y)' for each import that points up."""
    modules = module_files(root, package)
    found = []
    for module, targets in sorted(imports(modules, package).items()):
        for target in sorted(targets):
            low, high = layer_of(module, layers, package), layer_of(target, layers, package)
            if high > low:
                source, dest = (modules[m].relative_to(root) for m in (module, target))
                rooms = layers[high] if high < len(layers) else ("the package root",)
                found.append(f"{source} imports {dest}: layer {high} {rooms} is above layer {low} {layers[low]}")
    return found


def circles(root: pathlib.Path, package: str = PACKAGE) -> list[list[str]]:
    """Each import circle among the package's modules, as the list of modules round it."""
    graph = imports(module_files(root, package), package)
    found, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_no_import_points_up_a_layer():
    assert upward_imports(REPO) == []


def test_no_import_circles():
    assert circles(REPO) == []


def test_every_folder_of_the_package_is_in_a_layer():
    for module in module_files(REPO):
        layer_of(module)  # raises with the fix when a new folder is not placed


def _plant(tmp_path: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (tmp_path / "configs").mkdir(exist_ok=True)
    return tmp_path


def test_the_check_names_both_files_of_a_planted_upward_import(tmp_path):
    root = _plant(tmp_path, {
        f"{PACKAGE}/__init__.py": "",
        f"{PACKAGE}/model/__init__.py": "",
        f"{PACKAGE}/model/block.py": """
            def f():
                from unityvideo_jax.train.step import make_train_step  # lazy, still upward
        """,
        f"{PACKAGE}/train/__init__.py": "",
        f"{PACKAGE}/train/step.py": "from unityvideo_jax.model import block\n",
    })
    found = upward_imports(root)
    assert len(found) == 1
    assert found[0].startswith(f"{PACKAGE}/model/block.py imports {PACKAGE}/train/step.py")
    assert circles(root) == [[f"{PACKAGE}.model.block", f"{PACKAGE}.train.step", f"{PACKAGE}.model.block"]]


def test_the_check_accepts_downward_imports_and_names_an_unplaced_folder(tmp_path):
    root = _plant(tmp_path, {
        f"{PACKAGE}/__init__.py": "",
        f"{PACKAGE}/train/__init__.py": "",
        f"{PACKAGE}/train/step.py": "from unityvideo_jax import modalities\nimport unityvideo_jax.model.block\n",
        f"{PACKAGE}/model/block.py": "",
        f"{PACKAGE}/modalities.py": "",
        f"{PACKAGE}/utils/misc.py": "",
    })
    modules = module_files(root)
    assert upward_imports(root, layers=LAYERS + (("utils",),)) == []
    try:
        layer_of(f"{PACKAGE}.utils.misc")
    except AssertionError as err:
        assert "'utils'" in str(err) and "LAYERS" in str(err)
    else:
        raise AssertionError("an unplaced folder passed")
    assert imports(modules)[f"{PACKAGE}.train.step"] == {f"{PACKAGE}.modalities", f"{PACKAGE}.model.block"}
