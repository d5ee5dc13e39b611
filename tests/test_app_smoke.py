def test_library_round_trip_through_app(launch_app, client_for):
    url, services = launch_app()
    c = client_for(url)
    out = c.predict("할머니의 감나무", "순자 할머니께", "ko", 6, api_name="/create_book")
    print(out)
    listing = c.predict(api_name="/list_books")
    print(listing)
