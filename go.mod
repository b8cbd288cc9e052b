module mypt

go 1.26.0
