"""One account's list: the page loop, the paging rules, the data policy."""
