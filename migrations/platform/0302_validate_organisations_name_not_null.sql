-- release 3: validate organisations_name_not_null (SHARE UPDATE EXCLUSIVE lock only; writes continue)
ALTER TABLE organisations VALIDATE CONSTRAINT organisations_name_not_null;
