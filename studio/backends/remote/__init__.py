"""Remote engines behind the same protocols as local models: Hugging Face inference providers,
AUTOMATIC1111/Forge WebUI (``--api``) and ComfyUI servers.

Each backend is a client of a server somebody already runs. It reports progress through the same
``on_step`` callback, stops the remote job on cancel, and turns every failure (bad token, quota,
missing model, timeout, server down, filtered picture) into a ``BackendError`` with a message key
from ``locales/*/remote.json``. Tokens are passed per job (``Credentials``), never kept on the
shared backend instance and never logged.
"""
