CREATE TABLE organisations (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (char_length(name) <= 100),
    billing_mail varchar,
    country_code text CHECK (country_code ~ '^[A-Z]{2}$')
);
