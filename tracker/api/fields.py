"""The API's one number format: every decimal is a plain string (``formats.plain``).

「20」, 「8」, 「1234.5」, 「0.125」: no exponent, no trailing zeros, no grouping, rounded
to the field's places first. A value the API returns is accepted back unchanged.
The API's ``ModelSerializer`` maps model ``DecimalField`` s to it.
"""

from decimal import Decimal

from django.db import models
from rest_framework import serializers

from tracker.formats import plain


class PlainDecimalField(serializers.DecimalField):
    """DRF's ``DecimalField`` (validation, schema) written out as ``formats.plain``."""

    def to_representation(self, value):
        if value is None:
            return None
        if not isinstance(value, Decimal):
            value = Decimal(str(value).strip())
        return plain(self.quantize(value))


class ModelSerializer(serializers.ModelSerializer):
    """The API's ``ModelSerializer``: model decimals are ``PlainDecimalField`` s."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DecimalField: PlainDecimalField,
    }
