-- One database per service: auth (POSTGRES_DB) is created by the image, these two here.
CREATE DATABASE orders;
CREATE DATABASE catalog;
