"""One construct per component; only these modules call the service libraries."""
