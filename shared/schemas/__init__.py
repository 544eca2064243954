"""JSON Schema files of the records Greenguard publishes; shipped as package data."""
