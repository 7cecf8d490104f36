CREATE TABLE desk_bookings (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    desk_id bigint NOT NULL,
    during  tstzrange NOT NULL
);

-- The table was created above: nobody can see it, and it is empty.
ALTER TABLE desk_bookings
    ADD CONSTRAINT desk_bookings_no_overlap EXCLUDE USING gist (desk_id WITH =, during WITH &&);
