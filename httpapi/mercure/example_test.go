package mercure_test

import (
	"fmt"

	"github.com/ssehub/ssehub/httpapi/mercure"
)

// A Mercure topic maps onto one ssehub topic per privacy, and back.
func ExampleTopicFor() {
	public := mercure.TopicFor("https://example.com/books/1", false)
	private := mercure.TopicFor("https://example.com/books/1", true)
	fmt.Println(public)
	fmt.Println(private)
	iri, isPrivate, ok := mercure.IRIOf(private)
	fmt.Println(iri, isPrivate, ok)
	// Output:
	// mercure.https_3A_2F_2Fexample_2Ecom_2Fbooks_2F1
	// mercure_private.https_3A_2F_2Fexample_2Ecom_2Fbooks_2F1
	// https://example.com/books/1 true true
}
