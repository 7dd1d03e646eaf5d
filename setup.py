"""Maps the repository's top-level folders into the ``edgel3_mote`` namespace.

``compress/``, ``export/``, ``firmware/``, ``board_tests/`` and ``tools/`` live at the
repository root (the layout users browse), but install as ``edgel3_mote.compress`` etc.
Everything else is declared in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

SUBPACKAGES = ["compress", "export", "firmware", "board_tests", "tools"]

package_dir = {"edgel3_mote": "edgel3_mote"}
packages = ["edgel3_mote"]
for sub in SUBPACKAGES:
    package_dir[f"edgel3_mote.{sub}"] = sub
    packages.append(f"edgel3_mote.{sub}")
    # namespace discovery: data-only folders (templates, C sources) are packages too, so
    # their files ship as package data without setuptools' "absent from packages" warnings
    packages += [f"edgel3_mote.{sub}.{p}" for p in find_namespace_packages(sub, exclude=["*__pycache__*"])]

setup(
    package_dir=package_dir,
    packages=packages,
    # C sources, linker scripts and Jinja templates ship with the package: the firmware
    # generator copies them into each generated project.
    package_data={
        "edgel3_mote.firmware": ["**/*.c", "**/*.h", "**/*.ld", "**/*.s", "**/*.S", "**/*.mk", "**/*.md", "**/*.toml"],
        "edgel3_mote.export": ["**/*.j2", "**/*.json", "**/*.md"],
    },
    include_package_data=True,
)
