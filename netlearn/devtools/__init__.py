"""Development tools shared by the tests, the benchmarks and scripts/with_services.py: real
PostgreSQL, Redis and nginx servers on loopback (``servers``) and the production-like stack of
docs/deploy.md (``stack``). Never imported by the site itself."""
