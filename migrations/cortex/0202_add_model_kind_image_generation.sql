-- release 2: register image-generation models in the model registry
-- migrate:no-transaction
ALTER TYPE model_kind ADD VALUE IF NOT EXISTS 'image_generation';
