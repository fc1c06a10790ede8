"""Response headers and request rate limits that every page and endpoint gets."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import caches
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


class ContentSecurityPolicyMiddleware:
    """Send AIORNOT_CSP as Content-Security-Policy: scripts, styles and images from this site only."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.AIORNOT_CSP
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


def _client_ip(request) -> str:
    if settings.AIORNOT_TRUSTED_PROXY_COUNT:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= settings.AIORNOT_TRUSTED_PROXY_COUNT:
            return forwarded[-settings.AIORNOT_TRUSTED_PROXY_COUNT]
    return request.META.get("REMOTE_ADDR", "")


def _parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = (rate or "").partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(period.strip()[:1], 60)
    return int(count), seconds


class RateLimitMiddleware:
    """Fixed-window limits on sign-in and on submissions, per client address (and user).

    Sign-in: AIORNOT_RATE_LIMIT_LOGIN per address (password guessing). Submissions:
    AIORNOT_RATE_LIMIT_SUBMIT per signed-in user or API credential, else per address. Counters live
    in the "ratelimit" cache (shared across processes when AIORNOT_CACHE_URL points at Redis).
    Over the limit: 429 with Retry-After, JSON for the API.
    """

    LOGIN_PATHS = ("/accounts/login/", "/api/v1/auth/token/")
    SUBMIT_PATHS = ("/submit/", "/api/v1/submissions/", "/api/v1/submissions/batch/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and settings.AIORNOT_RATE_LIMITS:
            limited = self._check(request)
            if limited is not None:
                return limited
        return self.get_response(request)

    def _check(self, request):
        path = request.path
        if path in self.LOGIN_PATHS:
            rate, key = settings.AIORNOT_RATE_LIMIT_LOGIN, f"login:{_client_ip(request)}"
        elif path in self.SUBMIT_PATHS or path.startswith("/collections/"):
            user = getattr(request, "user", None)
            token = request.META.get("HTTP_AUTHORIZATION", "")
            if user is not None and user.is_authenticated:
                who = f"user:{user.pk}"
            elif token:  # API clients authenticate in the view; count per credential, not per address
                who = "token:" + hashlib.sha256(token.encode()).hexdigest()[:24]
            else:
                who = f"ip:{_client_ip(request)}"
            rate, key = settings.AIORNOT_RATE_LIMIT_SUBMIT, f"submit:{who}"
        else:
            return None
        limit, window = _parse_rate(rate)
        now = int(time.time())
        bucket = f"rl:{key}:{now // window}"
        cache = caches["ratelimit"]
        cache.add(bucket, 0, timeout=window + 5)
        try:
            count = cache.incr(bucket)
        except ValueError:  # evicted between add and incr
            cache.set(bucket, 1, timeout=window + 5)
            count = 1
        if count <= limit:
            return None
        retry_after = window - (now % window)
        message = _("Too many requests: at most %(rate)s. Please wait %(seconds)s seconds and try again.") % {
            "rate": rate, "seconds": retry_after,
        }
        if path.startswith("/api/"):
            response = JsonResponse({"error": {"code": "rate_limited", "message": message}}, status=429)
        else:
            response = render(request, "error.html", {"title": _("Too many requests"), "message": message}, status=429)
        response["Retry-After"] = str(retry_after)
        return response
