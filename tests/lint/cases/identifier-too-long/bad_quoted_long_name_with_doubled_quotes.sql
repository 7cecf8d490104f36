-- A quoted name with doubled quotes inside, 74 bytes as PostgreSQL reads it.
ALTER TABLE orders ADD COLUMN "the customer's ""gift"" note, as typed at checkout when the order was placed" text NULL;
