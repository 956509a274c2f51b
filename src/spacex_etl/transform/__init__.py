"""Transform: source records → validated models → table rows."""

from spacex_etl.transform.fields import is_absolute_url
from spacex_etl.transform.models import MODELS, Launch, Mission, Rocket, SourceModel
from spacex_etl.transform.records import Rejected, TransformedPage, columns, transform_page

__all__ = [
    "MODELS",
    "Launch",
    "Mission",
    "Rejected",
    "Rocket",
    "SourceModel",
    "TransformedPage",
    "columns",
    "is_absolute_url",
    "transform_page",
]
