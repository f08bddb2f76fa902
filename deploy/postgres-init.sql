-- Run once by the postgres image when its data volume is empty
-- (/docker-entrypoint-initdb.d), as POSTGRES_USER: OpenFGA keeps its tuples in
-- a database of its own, beside caido-cloud's (POSTGRES_DB).
CREATE DATABASE openfga;
