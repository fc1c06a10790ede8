"""POST /api/v1/auth/token/: DRF's token view, with the API's own request parsers."""

from rest_framework.authtoken.views import ObtainAuthToken

from .api_parsers import API_PARSER_CLASSES


class TokenObtainApi(ObtainAuthToken):
    """Trade a username and password for the user's API token (DRF's view lists its own
    parsers; this one uses the depth-limited JSON parser like every other endpoint)."""

    parser_classes = API_PARSER_CLASSES
