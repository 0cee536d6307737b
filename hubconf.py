"""torch.hub entry points: every zoo registry entry, by its name.

    torch.hub.load("<owner>/zoo", "fashion-64")                       # from GitHub
    torch.hub.load("path/to/zoo", "fashion-64", source="local")       # from a checkout
    torch.hub.load(..., "fashion-64", pretrained=False)               # freshly initialised
    torch.hub.list("<owner>/zoo")                                     # the names (GitHub; torch.hub.list
                                                                      # takes no source=: for a checkout,
                                                                      # zoo.list_models())

Each entry point returns exactly what ``zoo.load(name, pretrained=..., device=...)`` returns: the
model, with the shipped weights verified against their card, in eval mode.
"""
import zoo as _zoo

dependencies = ["torch", "safetensors", "click"]


def _entry_point(name):
    def load(pretrained=True, device=None):
        return _zoo.load(name, pretrained=pretrained, device=device)

    entry = _zoo.get_entry(name)
    load.__name__ = name
    load.__doc__ = f"{entry.description} (``zoo.load({name!r})``; pretrained=False: freshly initialised)"
    return load


for _name in _zoo.list_models():
    globals()[_name] = _entry_point(_name)
