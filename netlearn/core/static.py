"""WhiteNoise as an async middleware.

Why: WhiteNoise's middleware is sync-only, and Django runs a sync middleware in an async stack
by hopping to a thread and back for *every* request, static or not (measured: the largest
single cost of a cheap page like ``/healthz``). Without autorefresh the lookup is a dict read
and serving opens one small file, both fine on the event loop; with autorefresh (dev, tests)
the lookup stats files, so it goes to a thread.

Sync-capable too: ``netlearn.core.asgi_handler`` runs the whole middleware chain in one hop on a
pooled thread, where WhiteNoise's own sync ``__call__`` serves (a static file then costs that one
hop, like every page).
"""
from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(get_response, *args, **kwargs)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:
            static_file = await asyncio.to_thread(self.find_file, request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)
