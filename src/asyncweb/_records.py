"""`typing.NamedTuple`'s class syntax without importing typing (see types.py).

Type checkers see typing's own NamedTuple. At run time a class written as
`class Limits(NamedTuple): field: type = default`, in a module with
`from __future__ import annotations`, becomes the same
`collections.namedtuple` that typing would make of it: fields, defaults,
`_replace`, equality, hashing and pickling alike.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:

    class _NamedTupleMeta(type):
        def __new__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, object]) -> type:
            if not bases:  # NamedTuple itself
                return super().__new__(cls, name, bases, namespace)
            annotations = namespace.get("__annotations__")
            if annotations is None:  # Python 3.14 defers annotations unless they are strings
                raise TypeError(f"{name}: its module needs `from __future__ import annotations`")
            defaults = [namespace[field] for field in annotations if field in namespace]
            if any(field not in namespace for field in list(annotations)[len(annotations) - len(defaults) :]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            record = namedtuple(name, annotations, defaults=defaults, module=namespace["__module__"])
            record.__annotations__ = annotations
            for key, value in namespace.items():  # the docstring, qualified name and any methods
                if key not in annotations and key not in ("__module__", "__annotations__"):
                    setattr(record, key, value)
            return record

    class NamedTuple(metaclass=_NamedTupleMeta):
        pass
