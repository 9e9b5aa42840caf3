"""What deploy, the field tools and backup share at run time: the Docker adapter (engine) and the
InfluxDB clients (influx), both translating their foreign errors once. Nothing here imports
deploy, field or backup."""
