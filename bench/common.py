"""What the benchmark scripts share."""
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def postgres_bench_url(server_url, name):
    """Create a fresh throwaway database `name` next to `postgres`; return its URL and a drop function."""
    admin_url = make_url(server_url).set(database="postgres")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False), drop
