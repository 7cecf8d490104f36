-- No two bookings of one room may overlap: the index is built, and every row checked, under ACCESS EXCLUSIVE.
ALTER TABLE room_bookings
    ADD CONSTRAINT room_bookings_no_overlap EXCLUDE USING gist (room_id WITH =, during WITH &&);
