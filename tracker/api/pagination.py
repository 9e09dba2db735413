from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """``?page=`` and ``?page_size=`` (at most 500: a larger size is served as 500).

    A ``page_size`` that is not a whole number from 1 is refused with 400 (DRF would
    quietly use the default), so the schema's ``minimum: 1`` is what the API does (an
    empty one too)."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            raise ValidationError({self.page_size_query_param: "每页条数应为不小于 1 的整数"})
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"每页条数，默认 50；超过 {self.max_page_size} 按 {self.max_page_size}"
                )
            else:
                parameter["description"] = "页码，从 1 起；超出范围为 404"
        return parameters


class CountedBy:
    """``rows`` to paginate, counted by ``counted`` (the same rows before ``values_list``
    joined in columns: ``COUNT(*)`` without the joins)."""

    def __init__(self, rows, counted):
        self.rows, self.counted = rows, counted

    def count(self) -> int:
        return self.counted.count()

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]
