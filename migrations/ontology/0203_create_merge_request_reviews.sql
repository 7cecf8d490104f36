-- release 2: reviews on ontology merge requests

CREATE TABLE ontology_branching.merge_request_reviews (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merge_request_id uuid NOT NULL REFERENCES ontology_branching.merge_requests (id) ON DELETE CASCADE,
    reviewer_id      uuid NOT NULL,
    verdict          text NOT NULL CHECK (verdict IN ('approve', 'request_changes', 'comment')),
    body             text,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX merge_request_reviews_mr_idx ON ontology_branching.merge_request_reviews (merge_request_id, created_at);
