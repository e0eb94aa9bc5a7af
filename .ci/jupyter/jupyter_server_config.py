"""adrl's Jupyter server settings: `make lab` puts this folder first on JUPYTER_CONFIG_PATH (and .ci/setup links
this file into .venv/etc/jupyter, so a plain `.venv/bin/jupyter lab` reads it too).

Why: the notebooks are committed as nbdev_clean leaves them — no `language_info`, and `kernelspec.display_name`
equal to the kernel's name ("python3"). When JupyterLab opens a notebook it starts the kernel and writes the
kernel's own `kernelspec` ({name, display_name, language} of the kernel spec) and `language_info` (the kernel's
kernel_info reply) into the notebook's metadata; it compares the old and new values with a deep equality, and any
difference marks the notebook modified before anything was done. Keeping those values in the committed notebooks
cannot fix it on every machine: `language_info.version` is the Python patch version (3.11.7 here, something else
elsewhere), so they would differ somewhere and every save would churn them.

So the server does both halves:
- on load it hands JupyterLab each notebook with the metadata its kernel will report (the kernel spec's display
  name and language; ipykernel's `language_info`, when the spec runs ipykernel in this interpreter), so JupyterLab's
  update changes nothing and the tab stays clean;
- on save it cleans the notebook as `nbdev_clean` would (nbdev's Jupyter hook; settings.ini says `jupyter_hooks =
  True`), so what lands on disk is the committed form again.
tests/test_jupyter_pass.py checks both against a real kernel's kernel_info.
"""
import sys

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

PYTHONS = {"python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2], sys.executable}


def nbdev_clean_jupyter(model, path, **kwargs):
    """The pre-save hook: clean a notebook as `nbdev_clean` does, with the settings.ini above it, if that says
    `jupyter_hooks = True` (nbdev's own `clean_jupyter`, less its `nbdev_trust`, which leaves `nbs/.last_checked`)."""
    from nbdev.clean import clean_nb
    from nbdev.config import get_config
    if model["type"] != "notebook" or model["content"]["nbformat"] != 4: return
    get_config.cache_clear()   # settings.ini changes apply without restarting Jupyter
    cfg = get_config(path=path)
    if not cfg.jupyter_hooks: return
    clean_nb(model["content"], cfg.clear_all, cfg.get("allowed_metadata_keys").split(),
             cfg.get("allowed_cell_metadata_keys").split(), cfg.clean_ids)


def kernel_metadata(spec) -> dict:
    "The `kernelspec` (and, for ipykernel in this interpreter, `language_info`) JupyterLab writes for `spec`."
    meta = {"kernelspec": {"name": spec.name, "display_name": spec.display_name, "language": spec.language}}
    argv = list(spec.argv or [])
    if argv and argv[0] in PYTHONS and any(a.startswith("ipykernel") for a in argv[1:3]):
        from ipykernel.ipkernel import IPythonKernel   # jupyter_client runs "python" as this interpreter
        meta["language_info"] = dict(IPythonKernel.language_info)
    return meta


class KernelMetadataContentsManager(AsyncLargeFileManager):
    "Jupyter's file manager, handing out each notebook with the metadata its kernel will report (see above)."

    def _specs(self):
        from jupyter_client.kernelspec import KernelSpecManager
        manager = getattr(self.parent, "kernel_spec_manager", None)
        return manager if manager is not None else KernelSpecManager()

    async def get(self, path, content=True, type=None, format=None, **kwargs):
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if not content or model.get("type") != "notebook": return model
        meta = model["content"].get("metadata", {})
        name = meta.get("kernelspec", {}).get("name")
        if not name: return model
        try: spec = self._specs().get_kernel_spec(name)
        except Exception: return model   # no such kernel: JupyterLab asks which one, nothing to match
        spec.name = name
        meta.update(kernel_metadata(spec))
        return model


c = get_config()  # noqa: F821 (traitlets' config loader provides get_config)
c.ServerApp.contents_manager_class = KernelMetadataContentsManager
c.ContentsManager.pre_save_hook = nbdev_clean_jupyter
