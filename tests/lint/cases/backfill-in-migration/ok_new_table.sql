CREATE TABLE plan_limits (
    plan        text PRIMARY KEY,
    max_members integer NOT NULL,
    max_seats   integer
);

INSERT INTO plan_limits (plan, max_members) VALUES ('free', 5), ('team', 50), ('enterprise', 5000);

-- The table was created above: updating all of its rows locks nobody out.
UPDATE plan_limits SET max_seats = max_members;
