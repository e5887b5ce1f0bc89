"""CORS for the read API: any origin may read /api/ with GET or HEAD (the data is public and no request
carries credentials); a preflight OPTIONS is answered here, before any view."""

from django.http import HttpResponse

API_PREFIX = "/api/"
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
PREFLIGHT_MAX_AGE = str(24 * 60 * 60)


class ApiCorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response["Access-Control-Allow-Headers"] = "If-None-Match, Accept, Accept-Language"
            response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
            response["Allow"] = ALLOWED_METHODS
        else:
            response = self.get_response(request)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = "ETag, Retry-After"
        # Readable from any origin: the site's default same-origin resource policy would stop browsers.
        response["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response
