module mypt

go 1.26
