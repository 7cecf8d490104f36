-- A long run of characters in a string is not a name.
COMMENT ON TABLE orders IS 'https://wiki.example.com/platform/data-model/orders-and-their-line-items-history';
