"""Reading a form body as it streams in: urlencoded or multipart/form-data.

`reader` turns the body's chunks into a `FormData` (`read_form`), checking
every limit as the bytes arrive; `multipart` is the sans-I/O
multipart/form-data decoder it drives (bytes in, events out); `uploads`
holds `UploadFile`, a file part kept in memory or spooled to disk.

No I/O of its own but the upload files (the body comes in as an async
iterator of chunks, read by whoever calls `read_form`), and no ASGI: no
scope, receive or send. `multipart` is imported on the first
multipart body, never here: importing asyncweb stays
cheap for a CGI process.
"""

from .reader import FormData, form_type, read_form
from .uploads import UploadFile

__all__ = ["FormData", "UploadFile", "form_type", "read_form"]
