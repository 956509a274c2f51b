from spacex_etl.cli import app

app(prog_name="spacex-etl")
