from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """``?page=`` and ``?page_size=`` (capped at 500)."""

    page_size_query_param = "page_size"
    max_page_size = 500


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
