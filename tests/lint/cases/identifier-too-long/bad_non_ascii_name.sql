-- 35 Cyrillic letters: 35 characters but 70 bytes of UTF-8, so PostgreSQL cuts the name.
ALTER TABLE orders ADD COLUMN описаниезаказадляклиентаприоформлен text NULL;
