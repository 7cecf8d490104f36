CREATE TABLE organisations (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         varchar(100) NOT NULL,
    billing_mail character varying(254)
);
