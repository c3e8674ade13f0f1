"""Parts registered by name (runtimes, power sensors): a second part under a taken name is an
error when the module is imported, never a silent replacement."""


class Registry(dict):
    """name -> class, filled by the @REGISTRY.register decorator from each class's `name`."""

    def __init__(self, kind):
        dict.__init__(self)
        self.kind = kind

    def register(self, cls):
        name = cls.name
        if name in self:
            raise RuntimeError("two %s classes are named %r: %s.%s and %s.%s" % (
                self.kind, name, self[name].__module__, self[name].__name__, cls.__module__, cls.__name__))
        self[name] = cls
        return cls
